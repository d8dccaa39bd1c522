"""deploy/compose.yaml, validated and resolved by Docker Compose v2 itself (``config``).

``docker compose config`` checks the file against the Compose Specification and interpolates
it, with no Docker daemon. The tests read its resolved JSON: two replicas on one registry, gated
by PostgreSQL's health check, the admin key from the environment, nginx in front of the
replicas, vLLM only in the ``gpu`` profile; and the Lethe settings files the replicas load are
valid settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from lethe.gateway.settings import load_settings, read_yaml_settings
from tests.deploy.tools import DEPLOY, compose, run

COMPOSE_FILE = DEPLOY / "compose.yaml"
SECRETS = {"LETHE_ADMIN_KEY": "admin-key-from-env", "POSTGRES_PASSWORD": "pg-password-from-env"}
REPLICAS = ("lethe-1", "lethe-2")


def compose_config(
    env: dict[str, str], *args: str, file: Path = COMPOSE_FILE
) -> tuple[int, dict[str, Any] | None, str]:
    """``docker compose config`` of ``file``: (exit status, the resolved project, stderr)."""
    done = run([*compose(), "-f", str(file), *args, "config", "--format", "json"], env=env)
    project = json.loads(done.stdout) if done.returncode == 0 else None
    return done.returncode, project, done.stderr


def resolved(*args: str, **env: str) -> dict[str, Any]:
    """The project as compose resolves it with the two secrets (and ``env``) set."""
    status, project, err = compose_config({**SECRETS, **env}, *args)
    assert status == 0, err
    assert project is not None
    return project


def test_compose_accepts_the_file():
    services = resolved()["services"]
    assert set(services) == {"postgres", *REPLICAS, "nginx"}


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_a_missing_secret_stops_compose_with_its_name(variable):
    env = {k: v for k, v in SECRETS.items() if k != variable}
    status, _, err = compose_config(env)
    assert status != 0
    assert f"set {variable}" in err


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f["services"]["lethe-1"].update(replica_count=2), "replica_count"),
        (
            lambda f: f["services"]["nginx"]["depends_on"]["lethe-1"].update(condition="ready"),
            "condition",
        ),
        (lambda f: f["services"]["vllm"].update(profiles="gpu"), "profiles"),
    ],
    ids=["unknown-key", "bad-condition", "profiles-not-a-list"],
)
def test_compose_refuses_a_broken_copy(mutate, message, tmp_path):
    """The validator is not a no-op: broken copies of the file fail, naming what is wrong."""
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    mutate(data)
    shutil.copytree(DEPLOY / "compose", tmp_path / "compose")
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    status, _, err = compose_config(SECRETS, file=broken)
    assert status != 0
    assert message in err


def test_replicas_share_one_registry_gated_by_its_health_check():
    services = resolved()["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    urls = {services[name]["environment"]["LETHE_REGISTRY_URL"] for name in REPLICAS}
    assert len(urls) == 1
    (url,) = urls
    user, host, db = re.fullmatch(r"postgresql://(\w+)@([\w-]+):5432/(\w+)", url).groups()
    assert host == "postgres"
    assert user == postgres["environment"]["POSTGRES_USER"]
    assert db == postgres["environment"]["POSTGRES_DB"]
    for name in REPLICAS:
        replica = services[name]
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert replica["environment"]["PGPASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    # Each replica keeps its own data volume (audit log, caches).
    data = {
        next(v["source"] for v in services[name]["volumes"] if v["target"] == "/data")
        for name in REPLICAS
    }
    assert len(data) == len(REPLICAS)


def test_the_admin_key_comes_from_the_environment():
    services = resolved()["services"]
    for name in REPLICAS:
        assert services[name]["environment"]["LETHE_ADMIN_KEY"] == SECRETS["LETHE_ADMIN_KEY"]
        assert services[name]["image"] == services[REPLICAS[0]]["image"]
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "LETHE_ADMIN_KEY: ${LETHE_ADMIN_KEY:?" in text
    assert SECRETS["LETHE_ADMIN_KEY"] not in text


def test_nginx_balances_over_the_ready_replicas():
    services = resolved()["services"]
    nginx = services["nginx"]
    for name in REPLICAS:
        assert nginx["depends_on"][name]["condition"] == "service_healthy"
    conf = (DEPLOY / "compose" / "nginx.conf").read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server ([\w-]+):(\d+)", conf, flags=re.MULTILINE)
    assert sorted(servers) == [(name, "8000") for name in REPLICAS]  # the image's LETHE_PORT
    listen = re.search(r"^\s*listen (\d+);", conf, flags=re.MULTILINE).group(1)
    assert [p["target"] for p in nginx["ports"]] == [int(listen)]
    assert "proxy_next_upstream error http_503" in conf
    mounted = {v["target"]: Path(v["source"]) for v in nginx["volumes"]}
    assert mounted["/etc/nginx/conf.d/default.conf"] == DEPLOY / "compose" / "nginx.conf"


def test_without_the_gpu_profile_replicas_serve_the_embedded_model():
    services = resolved()["services"]
    assert "vllm" not in services
    for name in REPLICAS:
        assert services[name]["environment"]["LETHE_CONFIG"] == "/etc/lethe/lethe-cpu.yaml"


def test_the_gpu_profile_puts_vllm_behind_the_replicas():
    services = resolved("--profile", "gpu", LETHE_MODE="gpu")["services"]
    vllm = services["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert vllm["profiles"] == ["gpu"]
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert "gpu" in device["capabilities"]
    settings = read_yaml_settings(DEPLOY / "compose" / "lethe-gpu.yaml")
    assert settings["engine"] == "upstream"
    host_port = re.fullmatch(r"http://([\w-]+):(\d+)/v1", settings["upstream_url"]).groups()
    assert host_port == ("vllm", "8000")
    assert "--port=8000" in vllm["command"]
    model_mount = {v["target"]: v["source"] for v in vllm["volumes"]}["/model"]
    for name in REPLICAS:
        replica = services[name]
        assert replica["environment"]["LETHE_CONFIG"] == "/etc/lethe/lethe-gpu.yaml"
        mounts = {v["target"]: v for v in replica["volumes"]}
        assert mounts[settings["tokenizer"]]["source"] == model_mount
        assert mounts[settings["tokenizer"]]["read_only"] is True
        assert Path(mounts["/etc/lethe"]["source"]) == DEPLOY / "compose"


@pytest.mark.parametrize("mode", ["cpu", "gpu"])
def test_a_replica_environment_is_a_valid_lethe_configuration(mode, monkeypatch):
    """What a replica starts with (its variables, its settings file) passes Lethe's settings."""
    services = resolved("--profile", "gpu", LETHE_MODE=mode)["services"]
    environment = services["lethe-1"]["environment"]
    for name in [n for n in os.environ if n.startswith("LETHE_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = Path(environment["LETHE_CONFIG"])
    assert config.parent == Path("/etc/lethe")
    monkeypatch.setenv("LETHE_CONFIG", str(DEPLOY / "compose" / config.name))
    settings = load_settings()  # unknown settings and bad values raise ConfigurationError
    assert settings.engine == {"cpu": "hf", "gpu": "upstream"}[mode]
    assert settings.admin_key == SECRETS["LETHE_ADMIN_KEY"]
    assert settings.api_keys == []
    assert settings.registry_url is not None
    assert settings.registry_url.get_secret_value() == environment["LETHE_REGISTRY_URL"]
