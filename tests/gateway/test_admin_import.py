"""Bulk import (``POST /admin/targets:import``): streamed line splitting, per-line errors,
atomic batches, and proof that the body is processed while it still arrives."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from lethe.gateway.app import create_app
from lethe.gateway.serving import admin_import
from lethe.gateway.serving.admin_import import jsonl_lines
from lethe.indices import ForgetTarget, StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer
from tests.indices.fakes import HashingEmbedder

IMPORT = "/admin/targets:import"


def lines_of(chunks: list[bytes], max_line_bytes: int = 100) -> list[tuple[int, bytes, bool]]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[tuple[int, bytes, bool]]:
        return [(n.number, n.raw, n.too_long) async for n in jsonl_lines(source(), max_line_bytes)]

    return asyncio.run(collect())


BODY = b'{"a": 1}\n\n  \r\n{"b": 2}\r\n{"c": 3}'
EXPECTED = [(1, b'{"a": 1}', False), (4, b'{"b": 2}', False), (5, b'{"c": 3}', False)]


@pytest.mark.parametrize("cut", range(len(BODY) + 1))
def test_lines_are_the_same_wherever_the_chunks_break(cut: int) -> None:
    assert lines_of([BODY[:cut], BODY[cut:]]) == EXPECTED


def test_lines_from_one_byte_chunks() -> None:
    assert lines_of([BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"x" * 30 + b"\nok\n"], [(1, b"", True), (2, b"ok", False)]),
        ([b"x" * 15, b"x" * 15, b"\nok"], [(1, b"", True), (2, b"ok", False)]),
        ([b"ok\n", b"x" * 25, b"x" * 25], [(1, b"ok", False), (2, b"", True)]),
        ([b"x" * 20 + b"\n"], [(1, b"x" * 20, False)]),
        ([b""], []),
        ([b"\n\n\n"], []),
    ],
)
def test_too_long_lines_are_skipped_as_they_stream(
    chunks: list[bytes], expected: list[tuple[int, bytes, bool]]
) -> None:
    assert lines_of(chunks, max_line_bytes=20) == expected


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TargetStore]:
    s = TargetStore.open(tmp_path, HashingEmbedder(), config=StoreConfig(background=False))
    yield s
    s.close()


@pytest.fixture
def url(store: TargetStore) -> Iterator[str]:
    settings = make_settings(import_batch=3)
    with LiveServer(create_app(settings, engine=FakeEngine(), store=store)) as live:
        yield live.url


def target_line(i: int, **extra: object) -> str:
    return json.dumps({"id": f"i{i}", "kind": "entity", "name": f"Importname {i}", **extra})


def test_bad_lines_are_reported_and_good_lines_imported(url: str, store: TargetStore) -> None:
    store.add(ForgetTarget(id="old", kind="topic", name="Already there"))
    lines = [
        target_line(1),  # 1
        "{broken",  # 2
        target_line(3, name=""),  # 3
        "",  # 4 (blank: skipped)
        target_line(5, content=[{"question": "q?"}]),  # 5
        json.dumps({"id": "old", "kind": "topic", "name": "Again"}),  # 6
        target_line(1),  # 7: repeats line 1
        target_line(8),  # 8
        target_line(9, expires_at="2001-01-01T00:00:00Z"),  # 9
        "[1, 2]",  # 10
        target_line(11),  # 11
    ]
    answer = httpx.post(f"{url}{IMPORT}", content="\n".join(lines), timeout=30).json()
    assert (answer["imported"], answer["failed"], answer["errors_truncated"]) == (3, 7, False)
    got = [(e["line"], e["id"], e["param"]) for e in answer["errors"]]
    assert got == [
        (2, None, None),
        (3, "i3", "name"),
        (5, "i5", "content.0.answer"),
        (6, "old", "id"),
        (7, "i1", "id"),
        (9, "i9", "expires_at"),
        (10, None, None),
    ]
    messages = {e["line"]: e["error"] for e in answer["errors"]}
    assert messages[2].startswith("invalid JSON")
    assert messages[3].startswith("name: ")
    assert "already exists" in messages[6] and "line 1" in messages[7]
    ids = [t.target.id for t in store.list().items]
    assert ids == ["i1", "i11", "i8", "old"]
    assert answer["version"] == store.version


def test_each_batch_is_one_version(url: str, store: TargetStore) -> None:
    body = "\n".join(target_line(i) for i in range(7)) + "\n"
    answer = httpx.post(f"{url}{IMPORT}", content=body, timeout=30).json()
    assert (answer["imported"], answer["failed"], answer["version"]) == (7, 0, 3)  # 3 + 3 + 1
    assert {t.version for t in store.list().items} == {1, 2, 3}


def test_error_reports_are_capped(
    url: str, store: TargetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_import, "MAX_REPORTED_ERRORS", 2)
    body = "\n".join(["{"] * 5 + [target_line(1)])
    answer = httpx.post(f"{url}{IMPORT}", content=body, timeout=30).json()
    assert (answer["imported"], answer["failed"], len(answer["errors"])) == (1, 5, 2)
    assert answer["errors_truncated"] is True


def test_an_empty_body_imports_nothing(url: str) -> None:
    answer = httpx.post(f"{url}{IMPORT}", content=b"", timeout=30).json()
    assert answer == {
        "imported": 0,
        "failed": 0,
        "errors": [],
        "errors_truncated": False,
        "version": 0,
    }


def test_the_body_is_imported_while_it_streams(url: str, store: TargetStore) -> None:
    """The first batch is searchable before the client has sent the rest: nothing waits for
    the whole body (a buffering server would leave the version at 0 until the end)."""
    first_batch_in = threading.Event()

    def body() -> Iterator[bytes]:
        yield ("\n".join(target_line(i) for i in range(3)) + "\n").encode()
        yield (target_line(3) + "\n").encode()  # the line that closes batch 1 for the reader
        deadline = time.monotonic() + 10
        while store.version == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if store.version > 0:
            first_batch_in.set()
        yield (target_line(4) + "\n").encode()

    answer = httpx.post(f"{url}{IMPORT}", content=body(), timeout=30).json()
    assert first_batch_in.is_set()
    assert (answer["imported"], answer["version"]) == (5, 2)


def test_a_client_that_goes_away_keeps_the_batches_it_completed(
    url: str, store: TargetStore
) -> None:
    host, port = url.removeprefix("http://").split(":")
    body = "".join(target_line(i) + "\n" for i in range(7)).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST {IMPORT} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        sock.sendall(f"{len(body):x}\r\n".encode() + body + b"\r\n")  # no final chunk: more due
        deadline = time.monotonic() + 10
        while store.version < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    time.sleep(0.2)
    assert store.version == 2 and len(store.list().items) == 6  # line 7's batch never closed
    assert httpx.get(f"{url}/admin/registry").json()["version"] == 2  # and the server is fine
