"""A throwaway PostgreSQL 15 server for tests, and the fixtures that hand out fresh databases.

One server per test session (``initdb`` into a temp dir, trust auth, 127.0.0.1 on a free port,
durability off: tests never survive a power cut); one new database per test, so tests are
isolated, change feeds included (``NOTIFY`` channels are per database). A test may
:meth:`PostgresServer.stop`, :meth:`~PostgresServer.kill` and :meth:`~PostgresServer.start` the
server: it comes back on the same data dir and port, so DSNs stay valid.

PostgreSQL refuses to run as root: as root, ``initdb`` and ``pg_ctl`` run as the ``postgres`` user
(``runuser -u postgres --``) on a temp dir chowned to it. Missing binaries or a missing psycopg
*fail* the tests with the reason, unless ``LETHE_SKIP_POSTGRES=1`` (then they skip).

Use the fixtures from a test module (assigning, not importing, keeps ruff's F811 quiet)::

    from tests.indices import postgres
    postgres_server = postgres.postgres_server
    postgres_dsn = postgres.postgres_dsn

    def test_something(postgres_dsn): ...
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

PG_BIN: Final = Path(os.environ.get("LETHE_PG_BIN", "/usr/lib/postgresql/15/bin"))
SKIP_ENV: Final = "LETHE_SKIP_POSTGRES"
_SETTINGS: Final = (
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",
    "fsync=off",  # a killed server keeps every commit (the OS has the WAL), a crashed OS not
    "max_connections=200",
)
_names = itertools.count()


def unavailable(reason: str) -> None:
    """Fail (or skip, with ``LETHE_SKIP_POSTGRES=1``) the test that needs PostgreSQL."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"PostgreSQL tests skipped ({SKIP_ENV}=1): {reason}")
    pytest.fail(f"{reason} (set {SKIP_ENV}=1 to skip the PostgreSQL tests)", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One ``postgres`` process on ``127.0.0.1:port`` over ``data_dir``; superuser ``postgres``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.log = root / "server.log"
        self.port = _free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, tool: str, *args: str, timeout: float = 60.0) -> None:
        cmd = [*self._as_postgres, str(PG_BIN / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr}\n{log}")

    def init(self) -> None:
        """Create the cluster (trust auth, UTF-8, superuser ``postgres``)."""
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server (again) on the same data dir and port; waits until it accepts."""
        options = " ".join(f"-c {s}" for s in (*_SETTINGS, f"port={self.port}"))
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
            "-l", str(self.log), "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean: disconnects clients, checkpoints) or ``immediate``."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data_dir))

    def kill(self) -> None:
        """Stop the server as a crash would (``immediate``: no checkpoint; recovery on start)."""
        self.stop("immediate")

    def running(self) -> bool:
        """Whether the server accepts TCP connections now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq DSN for ``dbname`` as the superuser."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=5"

    def admin(self, sql: str) -> None:
        """Run one statement (``CREATE DATABASE`` ...) outside a transaction."""
        execute(self.dsn(), sql)


def execute(dsn: str, sql: str) -> list[tuple]:
    """Run one statement on its own autocommit connection; its rows (psycopg imported here, so
    test modules import without it)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def _check_prerequisites() -> None:
    missing = [t for t in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / t).exists()]
    if missing:
        unavailable(f"PostgreSQL 15 binaries not found in {PG_BIN}: {', '.join(missing)}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed: pip install 'lethe[postgres]'")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A started throwaway server for the whole session; removed at the end."""
    _check_prerequisites()
    root = Path(tempfile.mkdtemp(prefix="lethe-pg-"))
    server = PostgresServer(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A DSN to a new, empty database, dropped after the test (the server restarted if a test
    left it stopped)."""
    name = f"lethe_test_{os.getpid()}_{next(_names)}"
    postgres_server.admin(f"CREATE DATABASE {name}")
    yield postgres_server.dsn(name)
    if not postgres_server.running():
        postgres_server.start()
    deadline = time.monotonic() + 10
    while True:  # a test's pool may still be closing its connections
        try:
            postgres_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
