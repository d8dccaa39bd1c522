"""Indices: forget targets, the registry, the embedder, the FAISS index, the lexical matcher.

The lowest layer: it knows nothing of decoding or HTTP. The names below are its public API; the
gateway and the guards import them from here.

    targets.py        ForgetTarget (pydantic), limits, field_errors(), parse_target_json()
    patch.py          TargetPatch, apply_patch()           forbidden.py  derive_forbidden()
    normalize.py      fold(): text -> letter stream with spans and word boundaries
    lexical.py        LexicalMatcher (Aho-Corasick), LexicalHit
    chunking.py       what of a target is embedded (name, aliases, content chunks)
    embedder.py       Embedder protocol, SentenceTransformerEmbedder (all-MiniLM-L6-v2)
    onnx_embedder.py  OnnxEmbedder: the same model through ONNX Runtime (fp32 or int8)
    semantic.py       SemanticIndex (FAISS flat/HNSW)      faiss_store.py, rwlock.py
    registry.py       Registry protocol, change log        sqlite_registry.py, sqlite_support.py
    audit.py          AuditEvent, AuditLog protocol        sqlite_audit.py
    snapshot.py       IndexSnapshot, ScopeResult, ScopeHit
    store.py          TargetStore: add / add_many / patch / delete / get / list / scope / refresh
    store_types.py    StoreConfig, BulkResult          encoding.py, maintenance.py: its helpers

Example:
    >>> from lethe.indices import ForgetTarget, fold
    >>> ForgetTarget(kind="entity", name="Ada Quill").scope, fold("A-d-a").letters
    ('global', 'ada')
"""

from lethe.indices.audit import AuditEvent, AuditLog, AuditPage, AuditQuery
from lethe.indices.embedder import Embedder, SentenceTransformerEmbedder
from lethe.indices.lexical import LexicalHit, LexicalMatcher
from lethe.indices.normalize import fold
from lethe.indices.onnx_embedder import OnnxEmbedder
from lethe.indices.patch import PolicyPatch, TargetPatch, apply_patch
from lethe.indices.registry import Change, ChangeSet, Registry, StoredTarget, TargetPage
from lethe.indices.semantic import SemanticHit, SemanticIndex
from lethe.indices.snapshot import IndexSnapshot, ScopeHit, ScopeResult
from lethe.indices.sqlite_audit import SqliteAuditLog
from lethe.indices.sqlite_registry import SqliteRegistry
from lethe.indices.store import DEFAULT_DATA_DIR, TargetStore
from lethe.indices.store_types import BulkError, BulkResult, StoreConfig
from lethe.indices.targets import (
    ForgetTarget,
    Policy,
    QAPair,
    Thresholds,
    field_errors,
    parse_target_json,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "AuditEvent",
    "AuditLog",
    "AuditPage",
    "AuditQuery",
    "BulkError",
    "BulkResult",
    "Change",
    "ChangeSet",
    "Embedder",
    "ForgetTarget",
    "IndexSnapshot",
    "LexicalHit",
    "LexicalMatcher",
    "OnnxEmbedder",
    "Policy",
    "PolicyPatch",
    "QAPair",
    "Registry",
    "ScopeHit",
    "ScopeResult",
    "SemanticHit",
    "SemanticIndex",
    "SentenceTransformerEmbedder",
    "SqliteAuditLog",
    "SqliteRegistry",
    "StoreConfig",
    "StoredTarget",
    "TargetPage",
    "TargetPatch",
    "TargetStore",
    "Thresholds",
    "apply_patch",
    "field_errors",
    "fold",
    "parse_target_json",
]
