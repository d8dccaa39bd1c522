"""Gateway settings: defaults < YAML file < ``LETHE_*`` environment < explicit values (CLI flags).

The YAML file is named by the ``config`` setting itself: ``LETHE_CONFIG=/etc/lethe.yaml`` in the
environment, or ``--config`` on the command line (passed in as an explicit value). Unknown keys
and invalid values fail with a :class:`~lethe.errors.ConfigurationError` that names the setting.

Example:
    >>> s = Settings(port=9000, api_keys=["k1"])
    >>> s.host, s.port, s.model_cache_dir.name
    ('127.0.0.1', 9000, 'model-cache')
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from lethe.decoders.hf.config import DType, HFEngineConfig
from lethe.decoders.upstream.config import UpstreamEngineConfig
from lethe.decoders.vllm.config import VLLMEngineConfig
from lethe.errors import ConfigurationError

ENV_PREFIX = "LETHE_"
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
EmbedderBackend = Literal["torch", "onnx", "onnx-int8"]


class Settings(BaseSettings):
    """Everything ``lethe serve`` can be configured with; see docs/api.md for the OpenAI surface.

    ``model`` None serves the embedded default (SmolLM2-135M-Instruct). ``api_keys`` empty
    means the OpenAI API needs no key. ``default_max_tokens`` applies to chat requests that
    give no ``max_tokens``. ``max_body_bytes`` bounds a request body (413 above it).
    ``request_timeout_s`` None means no deadline. ``sse_keepalive_s`` is the longest silence of
    a stream: after it, a ``: keep-alive`` SSE comment keeps proxies from closing the connection
    (0: none).

    Forget registry (see docs/admin.md): ``admin_key`` guards the admin API (required when
    ``host`` is not a loopback address). The registry and the audit log live in ``data_dir``.
    ``embedder_model`` None is the packaged all-MiniLM-L6-v2; ``embedder_backend`` runs it
    through torch, or ONNX Runtime in fp32 (the same vectors, ~3x faster per query on a small
    CPU; the default) or int8 (other vectors: a registry refuses them), exported once into
    ``embedder_cache_dir`` (None: ``<data_dir>/embedder-cache``);
    ``embedder_preload`` loads it while the server starts (in the background) instead of on the
    first write or lookup; ``embedder_threads`` is the threads of bulk embedding (None: all
    cores).
    ``import_batch`` targets are committed per transaction of a bulk import (each batch is
    atomic and bumps the registry version once); ``admin_import_max_bytes`` bounds the body
    of ``POST /admin/targets:import`` (the other routes keep ``max_body_bytes``).
    ``index_exact_limit`` vectors are searched exactly (flat), HNSW above;
    ``index_ef_search`` is HNSW's search breadth. ``registry_synchronous`` FULL survives power
    loss, NORMAL only process crashes. ``audit_bodies`` keeps message text in audit events.
    ``registry_url`` (a PostgreSQL URL or ``key=value`` DSN, never logged; the
    ``lethe[postgres]`` extra) puts the registry in PostgreSQL, shared by replicas on any host,
    which also wake on its change feed (``LISTEN``); unset, it is SQLite in ``data_dir``.
    ``registry_poll_s`` is how often the registry is asked for changes other processes (replicas
    sharing it) committed, 0 never; a replica that could not read it for ``registry_stale_s``
    answers not-ready until it can again.

    Unlearning (see docs/unlearning.md): ``unlearning`` False serves the bare model (no scope
    check, no techniques, no output filter). ``unlearning_config`` is a YAML file overlaid on
    the packaged ``unlearning.yaml``. ``tenant_keys`` maps API keys to tenants: a request with
    such a key sees the global targets and its tenant's (``LETHE_TENANT_KEYS`` as JSON or
    ``key=tenant,key=tenant``); these keys are valid API keys too.

    Engines (see docs/engine.md): ``engine`` is ``hf`` (the default), ``upstream`` or ``vllm``.
    ``upstream``: ``upstream_url`` is the server's OpenAI root with ``/v1``; ``upstream_api_key``
    is sent as a bearer token and never logged; ``upstream_model`` None asks the upstream;
    ``tokenizer`` is the upstream model's tokenizer, loaded locally for forbidden-token bans;
    ``max_model_len`` None asks the upstream too. Connect failures are retried
    ``upstream_retries`` times (each attempt bounded by ``upstream_connect_timeout_s``);
    ``upstream_timeout_s`` is the longest silence of the upstream (504 after it);
    ``upstream_max_connections`` bounds the concurrent upstream requests.
    The ``agentic`` technique's judge is the served engine, unless ``judge_url`` names an
    OpenAI-compatible server (``judge_api_key``, ``judge_model`` as for ``upstream``;
    ``judge_timeout_s`` bounds its silence).
    ``vllm`` (the ``lethe[vllm]`` extra, a CUDA GPU): ``model`` is what vLLM loads (a directory,
    or a Hub name in the local cache), ``tokenizer`` when not the model's; ``max_batch_size`` is
    vLLM's ``max_num_seqs``; ``vllm_gpu_memory_utilization`` and ``vllm_tensor_parallel_size``
    are passed to vLLM as they are.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    config: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    engine: str = "hf"
    model: str | None = None
    tokenizer: str | None = None
    served_model_name: str | None = None
    dtype: DType = "auto"
    device: str = "auto"
    threads: int | None = Field(default=None, ge=1)
    max_batch_size: int = Field(default=8, ge=1)
    max_waiting: int = Field(default=64, ge=0)
    max_model_len: int | None = Field(default=None, ge=16)
    default_max_tokens: int = Field(default=512, ge=1)
    max_n: int = Field(default=8, ge=1)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admin_key: str | None = None
    data_dir: Path = Path("./lethe-data")
    model_cache: bool = True
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    log_level: LogLevel = "info"
    log_bodies: bool = False
    request_timeout_s: float | None = Field(default=None, gt=0)
    sse_keepalive_s: float = Field(default=10.0, ge=0)
    embedder_model: str | None = None
    embedder_backend: EmbedderBackend = "onnx"
    embedder_cache_dir: Path | None = None
    embedder_device: str = "cpu"
    embedder_preload: bool = True
    embedder_threads: int | None = Field(default=1, ge=1)
    import_batch: int = Field(default=500, ge=1, le=10_000)
    admin_import_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    index_exact_limit: int = Field(default=100_000, ge=0)
    index_ef_search: int = Field(default=64, ge=1)
    registry_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    registry_url: SecretStr | None = None
    registry_poll_s: float = Field(default=0.25, ge=0)
    registry_stale_s: float = Field(default=10.0, gt=0)
    audit_bodies: bool = False
    unlearning: bool = True
    unlearning_config: Path | None = None
    tenant_keys: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    upstream_url: str | None = None
    upstream_api_key: SecretStr | None = None
    upstream_model: str | None = None
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    upstream_timeout_s: float = Field(default=300.0, gt=0)
    upstream_retries: int = Field(default=2, ge=0, le=10)
    upstream_max_connections: int = Field(default=64, ge=1)
    judge_url: str | None = None
    judge_api_key: SecretStr | None = None
    judge_model: str | None = None
    judge_timeout_s: float = Field(default=120.0, gt=0)
    vllm_gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    vllm_tensor_parallel_size: int = Field(default=1, ge=1)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Accept ``LETHE_API_KEYS`` as a JSON list or as comma-separated keys."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [key.strip() for key in text.split(",") if key.strip()]
        return value

    @field_validator("tenant_keys", mode="before")
    @classmethod
    def _split_tenant_keys(cls, value: Any) -> Any:
        """Accept ``LETHE_TENANT_KEYS`` as a JSON object or as ``key=tenant`` pairs."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                return json.loads(text)
            pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
            if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
                raise ValueError("tenant_keys must be key=tenant pairs separated by commas")
            return {k.strip(): t.strip() for k, t in pairs}
        return value

    @property
    def chat_keys(self) -> list[str]:
        """Every key the OpenAI API accepts: ``api_keys`` and the tenants' keys."""
        return [*self.api_keys, *self.tenant_keys]

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _n_fits_the_batch(self) -> Settings:
        """Every choice of a request decodes in the running batch, so n cannot exceed it."""
        if self.max_n > self.max_batch_size:
            raise ValueError(
                f"max_n ({self.max_n}) must not exceed max_batch_size ({self.max_batch_size})"
            )
        return self

    @model_validator(mode="after")
    def _onnx_runs_on_cpu(self) -> Settings:
        """The ONNX backends run on the CPU only; another device needs the torch backend."""
        if self.embedder_backend != "torch" and self.embedder_device != "cpu":
            raise ValueError(
                f"embedder_device {self.embedder_device!r} needs embedder_backend=torch "
                f"(the {self.embedder_backend} backend runs on the CPU)"
            )
        return self

    @property
    def embedder_cache(self) -> Path:
        """Where ONNX exports of the embedder are kept: ``embedder_cache_dir`` or under data_dir."""
        return self.embedder_cache_dir or self.data_dir / "embedder-cache"

    @property
    def model_cache_dir(self) -> Path:
        """Where dequantised GGUF weights are cached: ``<data_dir>/model-cache``."""
        return self.data_dir / "model-cache"

    @property
    def assistants_dir(self) -> Path:
        """Where trained contrastive assistants are kept: ``<data_dir>/assistants``."""
        return self.data_dir / "assistants"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values win over the environment, which wins over the YAML file."""
        return (
            init_settings,
            env_settings,
            YamlFileSource(settings_cls, init_settings, env_settings),
        )


class YamlFileSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by the ``config`` setting (explicit value or ``LETHE_CONFIG``)."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self._init_settings = init_settings
        self._env_settings = env_settings

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: :meth:`__call__` returns the whole file at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self._init_settings().get("config") or self._env_settings().get("config")
        return read_yaml_settings(Path(path)) if path else {}


def read_yaml_settings(path: Path) -> dict[str, Any]:
    """The mapping at the top of a YAML settings file; a clear error when it is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"config file {path} is not valid YAML{_where(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file {path} must hold a mapping of settings")
    return data


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    place = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{place}: {problem}" if problem else place


def load_settings(**values: Any) -> Settings:
    """Build :class:`Settings`; ``values`` are explicit settings (CLI flags), None ones skipped.

    Raises :class:`ConfigurationError` naming the first bad setting, never a pydantic traceback.
    """
    given = {key: value for key, value in values.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, given)) from None


def _source(field: str, given: dict[str, Any]) -> str:
    """Where a setting came from, for error messages: a flag, the environment or the file."""
    env = f"{ENV_PREFIX}{field.upper()}"
    config = given.get("config") or os.environ.get(f"{ENV_PREFIX}CONFIG")
    if field in given:
        return ""
    if env in os.environ:
        return f" (set through {env})"
    return f" (in {config})" if config else ""


def _describe(exc: ValidationError, given: dict[str, Any]) -> str:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    source = _source(name.split(".")[0], given)
    if error["type"] == "extra_forbidden":
        return f"unknown setting '{name}'{source}"
    return f"invalid setting '{name}'{source}: {error['msg']}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (environment and ``LETHE_CONFIG``)."""
    return load_settings()


def to_hf_config(settings: Settings) -> HFEngineConfig:
    """The ``hf`` engine's configuration, taken from the gateway settings."""
    return HFEngineConfig(
        model=settings.model,
        tokenizer=settings.tokenizer,
        served_model_name=settings.served_model_name,
        dtype=settings.dtype,
        device=settings.device,
        threads=settings.threads,
        max_batch_size=settings.max_batch_size,
        max_waiting=settings.max_waiting,
        max_model_len=settings.max_model_len,
        cache_dir=settings.model_cache_dir if settings.model_cache else None,
        assistants_dir=settings.assistants_dir,
    )


def to_upstream_config(settings: Settings) -> UpstreamEngineConfig:
    """The ``upstream`` engine's configuration, taken from the gateway settings."""
    if not settings.upstream_url:
        raise ConfigurationError("engine 'upstream' needs the setting 'upstream_url'")
    key = settings.upstream_api_key
    return UpstreamEngineConfig(
        base_url=settings.upstream_url,
        api_key=key.get_secret_value() if key is not None else None,
        model=settings.upstream_model,
        served_model_name=settings.served_model_name,
        tokenizer=settings.tokenizer,
        max_model_len=settings.max_model_len,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.upstream_timeout_s,
        retries=settings.upstream_retries,
        max_connections=settings.upstream_max_connections,
    )


def to_judge_config(settings: Settings) -> UpstreamEngineConfig | None:
    """The separate judge's configuration (an upstream engine), or None: the served engine."""
    if not settings.judge_url:
        return None
    key = settings.judge_api_key
    return UpstreamEngineConfig(
        base_url=settings.judge_url,
        api_key=key.get_secret_value() if key is not None else None,
        model=settings.judge_model,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.judge_timeout_s,
        retries=settings.upstream_retries,
    )


def to_vllm_config(settings: Settings) -> VLLMEngineConfig:
    """The ``vllm`` engine's configuration, taken from the gateway settings."""
    if not settings.model:
        raise ConfigurationError(
            "engine 'vllm' needs the setting 'model' (a model directory, or a Hugging Face name "
            "in the local cache)"
        )
    return VLLMEngineConfig(
        model=settings.model,
        tokenizer=settings.tokenizer,
        served_model_name=settings.served_model_name,
        dtype=settings.dtype,
        max_model_len=settings.max_model_len,
        max_num_seqs=settings.max_batch_size,
        gpu_memory_utilization=settings.vllm_gpu_memory_utilization,
        tensor_parallel_size=settings.vllm_tensor_parallel_size,
    )
