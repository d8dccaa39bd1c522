"""``lethe forget add|import|list|show|rm``: manage forget targets of a running gateway.

Talks to the admin API over HTTP (httpx). The gateway is ``--url`` or ``$LETHE_URL`` (default
``http://127.0.0.1:8000``), the key ``--admin-key`` or ``$LETHE_ADMIN_KEY``. Output is readable
by default (a table for ``list``, a summary with the first errors for ``import``) and the
server's JSON with ``--json``. Problems are one line on stderr and exit status 2; an import
with failed lines prints its summary and exits with 1.

Example:
    $ lethe forget add --name "Ada Quill" --kind entity --alias "A. Quill" --forbidden Ulm
    added tgt_5d1c0c7e2b6f4a1e9d3c8b70 (registry version 7)
    $ lethe forget import targets.jsonl
    imported 9998 targets, 2 failed (registry version 28)
      line 17: name: must not be empty
    $ lethe forget list --kind entity
    $ lethe forget rm tgt_5d1c0c7e2b6f4a1e9d3c8b70
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

from lethe.gateway.commands import CommandError, usage_handler

DEFAULT_URL = "http://127.0.0.1:8000"
SHOWN_ERRORS = 10
CHUNK_BYTES = 64 * 1024
PARTIAL_FAILURE = 1


def register(subparsers: Any) -> None:
    """Add ``forget`` and its subcommands to the ``lethe`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"gateway root URL (default $LETHE_URL or {DEFAULT_URL})")
    common.add_argument("--admin-key", help="admin key (default $LETHE_ADMIN_KEY)")
    common.add_argument("--json", action="store_true", help="print the server's JSON")
    common.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser = subparsers.add_parser(
        "forget",
        help="add, import, list, show or remove forget targets of a running gateway",
        description="Manage the forget targets of a running Lethe gateway (its admin API).",
    )
    parser.set_defaults(handler=usage_handler(parser))
    commands = parser.add_subparsers(dest="forget_command", metavar="COMMAND")

    add = commands.add_parser("add", parents=[common], help="add one target")
    add.add_argument("file", nargs="?", help="a JSON file with the target ('-': stdin)")
    add.add_argument("--name", help="the target's name (instead of a file)")
    add.add_argument("--kind", default="entity", help="entity, fact, document or topic")
    add.add_argument("--alias", action="append", default=[], help="another name (repeatable)")
    add.add_argument(
        "--forbidden", action="append", default=[], help="a string never to output (repeatable)"
    )
    add.add_argument("--id", help="the id (generated when absent)")
    add.add_argument("--scope", help="global (default) or a tenant")
    add.add_argument("--action", choices=("suppress", "refuse"), help="the policy's action")
    add.add_argument("--reason", help="why it is forgotten (compliance note)")
    add.set_defaults(handler=run_add)

    imp = commands.add_parser("import", parents=[common], help="bulk import a JSONL file")
    imp.add_argument("file", help="JSONL, one target per line ('-': stdin)")
    imp.set_defaults(handler=run_import)

    ls = commands.add_parser("list", parents=[common], help="list targets")
    ls.add_argument("--kind", help="only this kind")
    ls.add_argument("--scope", help="only this scope (global or a tenant)")
    ls.add_argument("--limit", type=int, default=50, help="targets per page (default 50)")
    ls.add_argument("--cursor", help="start after this id (a previous page's next cursor)")
    ls.add_argument("--all", action="store_true", help="follow the pages to the end")
    ls.set_defaults(handler=run_list)

    show = commands.add_parser("show", parents=[common], help="show one target")
    show.add_argument("id")
    show.set_defaults(handler=run_show)

    rm = commands.add_parser("rm", parents=[common], help="remove targets")
    rm.add_argument("ids", nargs="+", metavar="ID")
    rm.set_defaults(handler=run_rm)


class AdminHttp:
    """The admin API at ``url``: one method per call, every failure a one-line CommandError."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url = (args.url or os.environ.get("LETHE_URL") or DEFAULT_URL).rstrip("/")
        self.url = self.url.removesuffix("/v1")
        key = args.admin_key or os.environ.get("LETHE_ADMIN_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=args.timeout)

    def __enter__(self) -> AdminHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request; the JSON answer, or a :class:`CommandError` saying what failed."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise CommandError(f"the gateway at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise CommandError(
                f"cannot reach the Lethe gateway at {self.url} ({type(exc).__name__}: {exc}); "
                "is it running? (--url or LETHE_URL)"
            ) from None
        if response.status_code >= 400:
            raise CommandError(describe_error(response))
        try:
            body = response.json()
        except ValueError:
            raise CommandError(f"{method} {path}: the answer is not JSON") from None
        return body if isinstance(body, dict) else {"data": body}


def describe_error(response: httpx.Response) -> str:
    """One line for an error answer, from the OpenAI envelope when there is one."""
    status = response.status_code
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = str(error.get("message") or response.text[:200] or response.reason_phrase)
    if status == 401:
        return f"the admin key was refused (401): {message} (--admin-key or LETHE_ADMIN_KEY)"
    if status == 403:
        return f"this key may not use the admin API (403): {message}"
    if status == 422:
        return f"invalid target: {message}"
    if status == 404 and error.get("code") == "unknown_url":
        return f"{message} (is this a Lethe gateway of this version?)"
    return f"{message} (HTTP {status})" if status >= 500 or status == 413 else message


def _print_json(body: Any) -> None:
    print(json.dumps(body, ensure_ascii=False))


def _read_text(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {name}: {exc.strerror}") from None


def target_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The target to add: the JSON file's object, or one built from the flags."""
    if args.file is not None and args.name is not None:
        raise CommandError("give a JSON file or --name, not both")
    if args.file is not None:
        try:
            target = json.loads(_read_text(args.file))
        except ValueError as exc:
            raise CommandError(f"{args.file} is not valid JSON: {exc}") from None
        if not isinstance(target, dict):
            raise CommandError(f"{args.file} must hold one JSON object (a target)")
        return target
    if args.name is None:
        raise CommandError("give a JSON file or --name (see lethe forget add --help)")
    target: dict[str, Any] = {"kind": args.kind, "name": args.name}
    if args.alias:
        target["aliases"] = args.alias
    if args.forbidden:
        target["forbidden"] = args.forbidden
    for field in ("id", "scope", "reason"):
        if getattr(args, field) is not None:
            target[field] = getattr(args, field)
    if args.action is not None:
        target["policy"] = {"action": args.action}
    return target


def run_add(args: argparse.Namespace) -> int:
    """``lethe forget add``."""
    target = target_from_args(args)
    with AdminHttp(args) as admin:
        answer = admin.call("POST", "/admin/targets", json=target)
    if args.json:
        _print_json(answer)
    else:
        print(f"added {answer['id']} (registry version {answer['version']})")
    return 0


class Progress:
    """Counts lines and bytes sent; redraws one stderr line when stderr is a terminal."""

    def __init__(self, stream: IO[str] = sys.stderr, every_s: float = 0.5) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._every = every_s
        self._last = 0.0
        self.lines = 0
        self.sent = 0

    def update(self, chunk: bytes) -> None:
        """Count ``chunk``; redraw at most every ``every_s`` seconds."""
        self.lines += chunk.count(b"\n")
        self.sent += len(chunk)
        now = time.monotonic()
        if self._live and now - self._last >= self._every:
            self._last = now
            mib = self.sent / (1024 * 1024)
            self._stream.write(f"\rsent {self.lines} lines ({mib:.1f} MiB)...")
            self._stream.flush()

    def done(self) -> None:
        """End the progress line."""
        if self._live:
            mib = self.sent / (1024 * 1024)
            self._stream.write(f"\rsent {self.lines} lines ({mib:.1f} MiB), waiting for the end\n")
            self._stream.flush()


def file_chunks(source: IO[bytes], progress: Progress) -> Iterator[bytes]:
    """The file in chunks, counted by ``progress`` as they are sent."""
    while chunk := source.read(CHUNK_BYTES):
        progress.update(chunk)
        yield chunk
    progress.done()


def _open_binary(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    try:
        return Path(name).open("rb")
    except OSError as exc:
        raise CommandError(f"cannot read {name}: {exc.strerror}") from None


def import_summary(answer: dict[str, Any]) -> list[str]:
    """The readable summary of an import answer: one line, then the first errors."""
    lines = [
        f"imported {answer['imported']} targets, {answer['failed']} failed "
        f"(registry version {answer['version']})"
    ]
    errors = answer.get("errors", [])
    for error in errors[:SHOWN_ERRORS]:
        where = f"line {error['line']}" + (f" (id {error['id']})" if error.get("id") else "")
        lines.append(f"  {where}: {error['error']}")
    hidden = answer["failed"] - min(len(errors), SHOWN_ERRORS)
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (--json lists up to {len(errors)})")
    return lines


def run_import(args: argparse.Namespace) -> int:
    """``lethe forget import``: stream the file; the server adds it batch by batch."""
    progress = Progress()
    source = _open_binary(args.file)
    try:
        with AdminHttp(args) as admin:
            answer = admin.call(
                "POST",
                "/admin/targets:import",
                content=file_chunks(source, progress),
                headers={"Content-Type": "application/x-ndjson"},
                timeout=httpx.Timeout(args.timeout, read=None),  # the answer comes at the end
            )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if args.json:
        _print_json(answer)
    else:
        print("\n".join(import_summary(answer)))
    return PARTIAL_FAILURE if answer["failed"] else 0


def target_table(targets: list[dict[str, Any]]) -> list[str]:
    """Rows of the ``list`` table: id, kind, scope, version, aliases, name."""
    header = ("ID", "KIND", "SCOPE", "VERSION", "ALIASES", "NAME")
    rows = [header] + [
        (
            t["id"],
            t["kind"],
            t.get("scope", "global"),
            str(t.get("version", "")),
            str(len(t.get("aliases") or ())),
            t["name"],
        )
        for t in targets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    padded = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows]
    return [f"{left}  {row[-1]}" for left, row in zip(padded, rows, strict=True)]


def run_list(args: argparse.Namespace) -> int:
    """``lethe forget list``: one page, or every page with ``--all``."""
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    targets: list[dict[str, Any]] = []
    cursor, version = args.cursor, None
    with AdminHttp(args) as admin:
        while True:
            params = {"kind": args.kind, "scope": args.scope, "cursor": cursor}
            params = {k: v for k, v in params.items() if v is not None}
            page = admin.call("GET", "/admin/targets", params={**params, "limit": args.limit})
            targets += page["data"]
            cursor, version = page.get("next_cursor"), page.get("version")
            if cursor is None or not args.all:
                break
    if args.json:
        _print_json({"data": targets, "next_cursor": cursor, "version": version})
        return 0
    if targets:
        print("\n".join(target_table(targets)))
    more = f"; more with --cursor {cursor}" if cursor else ""
    print(f"{len(targets)} targets (registry version {version}){more}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """``lethe forget show``: the stored target as indented JSON (one line with ``--json``)."""
    with AdminHttp(args) as admin:
        target = admin.call("GET", f"/admin/targets/{quote(args.id, safe='')}")
    if args.json:
        _print_json(target)
    else:
        print(json.dumps(target, indent=2, ensure_ascii=False))
    return 0


def run_rm(args: argparse.Namespace) -> int:
    """``lethe forget rm``: delete each id in turn (stops at the first failure)."""
    with AdminHttp(args) as admin:
        for target_id in args.ids:
            answer = admin.call("DELETE", f"/admin/targets/{quote(target_id, safe='')}")
            if args.json:
                _print_json(answer)
            else:
                print(f"removed {target_id} (registry version {answer['version']})")
    return 0
