"""``lethe serve``: run the gateway with uvicorn (one worker) on the configured engine.

Order matters for good errors: settings are validated, the engine's files are checked and the
port is bound *before* the model is loaded, so a typo fails in milliseconds with one line.
The bound socket is handed to uvicorn, so no other process can take the port in between.

Example:
    $ lethe serve                                  # embedded default on 127.0.0.1:8000
    $ lethe serve --config lethe.yaml --port 9000 --api-key k1 --api-key k2
    $ LETHE_ADMIN_KEY=secret lethe serve --host 0.0.0.0   # a public address needs an admin key
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
from typing import Any

from lethe.gateway.commands import CommandError

INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C
SETTING_FLAGS = (
    "host",
    "port",
    "config",
    "model",
    "dtype",
    "device",
    "api_keys",
    "admin_key",
    "log_level",
)


def register(subparsers: Any) -> None:
    """Add ``serve`` to the ``lethe`` parser."""
    parser = subparsers.add_parser(
        "serve",
        help="run the OpenAI-compatible gateway",
        description="Run the gateway. Flags override LETHE_* environment variables, which "
        "override the YAML config file.",
    )
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8000)")
    parser.add_argument("--config", metavar="FILE", help="YAML settings file")
    parser.add_argument("--model", metavar="PATH", help="model directory or .gguf file")
    parser.add_argument("--dtype", help="auto, float32, bfloat16 or float16")
    parser.add_argument("--device", help="auto (first GPU, else CPU), cpu, cuda, cuda:1...")
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help="accepted API key (repeatable); none means no authentication",
    )
    parser.add_argument(
        "--admin-key",
        metavar="KEY",
        help="key of the admin API (prefer LETHE_ADMIN_KEY: flags show in ps); required "
        "unless --host is a loopback address",
    )
    parser.add_argument("--log-level", help="critical, error, warning, info or debug")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate, bind, build and serve; returns when the server stops."""
    # A server's log is no terminal: no progress bars from hub or GGUF loading (tqdm reads
    # TQDM_DISABLE when it is first imported, which is below this line).
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Imported here so that `lethe --help` does not pay for torch and FastAPI.
    from lethe.gateway.engines import preflight_engine
    from lethe.gateway.serving.admin_access import AdminAccess
    from lethe.gateway.settings import load_settings

    settings = load_settings(**{name: getattr(args, name) for name in SETTING_FLAGS})
    AdminAccess.from_settings(settings)  # an open admin API on a public address: exit 2
    preflight_engine(settings)
    sock = bind_socket(settings.host, settings.port)
    try:
        _serve(settings, sock)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        return INTERRUPTED
    finally:
        sock.close()
    return 0


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``; a one-line :class:`CommandError` when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"port {port} on {host} is already in use; stop the other server or pick "
                "another port with --port"
            ) from None
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def listening_fields(settings: Any) -> dict[str, object]:
    """The fields of the start-up log line (``event=listening ...``); no secrets."""
    from lethe.gateway.serving.admin_access import AdminAccess

    admin = AdminAccess.from_settings(settings).mode
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return {
        "url": f"http://{host}:{settings.port}/v1",
        "engine": settings.engine,
        "model": settings.model or "embedded-default",
        "api_keys": len(settings.api_keys),
        "admin_api": "admin key" if admin == "key" else "open (loopback only, no admin key)",
        "data_dir": str(settings.data_dir),
    }


def _serve(settings: Any, sock: socket.socket) -> None:
    import uvicorn

    from lethe.gateway.app import create_app
    from lethe.gateway.engines import build_engine
    from lethe.gateway.logs import configure_logging, kv

    configure_logging(settings.log_level)
    app = create_app(settings, build_engine(settings), freeze_heap=True)
    logging.getLogger("lethe.gateway").info(kv("listening", **listening_fields(settings)))
    config = uvicorn.Config(
        app, log_config=None, log_level=settings.log_level, access_log=False, workers=1
    )
    uvicorn.Server(config).run(sockets=[sock])
