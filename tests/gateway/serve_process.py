"""``lethe serve`` as a real subprocess on a free loopback port, for tests and benchmarks that
need the gateway exactly as it is deployed (its own process, its own engine)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
MODEL_CACHE_DATA = REPO / ".lethe-cache" / "serve-data"


def data_dir_sharing_weights(path: Path) -> Path:
    """Make ``path`` a fresh data dir whose ``model-cache`` is the shared one, so the GGUF file
    is dequantised once for every server a test or benchmark starts."""
    (MODEL_CACHE_DATA / "model-cache").mkdir(parents=True, exist_ok=True)
    path.mkdir(parents=True)
    (path / "model-cache").symlink_to(MODEL_CACHE_DATA / "model-cache")
    return path


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``with ServeProcess() as server:`` runs ``lethe serve`` until the block ends."""

    def __init__(
        self,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        data_dir: Path = MODEL_CACHE_DATA,
        ready_timeout_s: float = 300.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = args
        self._env = {**os.environ, "LETHE_DATA_DIR": str(data_dir), **(env or {})}
        self._timeout = ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServeProcess:
        command = [sys.executable, "-m", "lethe.gateway.cli", "serve", "--port", str(self.port)]
        # The log goes to a file, never a pipe: a pipe nobody drains blocks a chatty server.
        self.log = tempfile.NamedTemporaryFile(prefix="lethe-serve-", suffix=".log")
        self.process = subprocess.Popen(
            [*command, *self._args],
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"lethe serve exited with {self.process.returncode}: {self.log_text()}"
                )
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("lethe serve did not become ready in time")

    def log_text(self) -> str:
        """What the server logged so far."""
        return Path(self.log.name).read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
