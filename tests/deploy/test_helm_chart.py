"""The Helm chart in deploy/helm/lethe, checked with helm itself and the Kubernetes schemas.

``helm lint --strict`` (values.schema.json included), then ``helm template`` for each value set
of :data:`VALUE_SETS`, every rendered object validated strictly (unknown fields refused)
against the oldest and the newest Kubernetes release ``kubernetes-validate`` bundles; the
renders that must fail, with their messages; and what the gateway relies on: probes on
/readyz and /healthz on the port the Service targets, secrets only in Secrets, and one
registry for all replicas.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import lethe
from lethe.gateway.settings import load_settings
from tests.deploy.tools import DEPLOY, HELM_NPM_VERSION, REPO, helm, run

CHART = DEPLOY / "helm" / "lethe"
# The oldest and the newest release whose schemas kubernetes-validate 1.37 bundles.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")
ADMIN_KEY = "s3cr3t-admin-key-for-tests"
REGISTRY_URL = "postgresql://lethe:pg-pass-for-tests@db.example:5432/lethe"

# name -> (values, the kinds rendered)
VALUE_SETS: dict[str, tuple[dict[str, Any], dict[str, int]]] = {
    "default": ({}, {"Deployment": 1, "Service": 1, "ConfigMap": 1, "Secret": 1}),
    "replicas-with-postgresql": (
        {"replicaCount": 3, "postgresql": {"enabled": True}},
        {"Deployment": 1, "Service": 2, "ConfigMap": 1, "Secret": 1, "StatefulSet": 1},
    ),
    "existing-secrets": (
        {
            "replicaCount": 2,
            "adminKey": {"existingSecret": "lethe-admin", "existingSecretKey": "key"},
            "registry": {"existingSecret": "lethe-registry"},
        },
        {"Deployment": 1, "Service": 1, "ConfigMap": 1},
    ),
    "external-registry-url": (
        {"replicaCount": 2, "adminKey": {"value": ADMIN_KEY}, "registry": {"url": REGISTRY_URL}},
        {"Deployment": 1, "Service": 1, "ConfigMap": 1, "Secret": 1},
    ),
    "hpa-and-pdb": (
        {
            "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6},
            "podDisruptionBudget": {"enabled": True},
            "postgresql": {"enabled": True, "auth": {"existingSecret": "pg"}},
        },
        {
            "Deployment": 1,
            "Service": 2,
            "ConfigMap": 1,
            "Secret": 1,
            "StatefulSet": 1,
            "HorizontalPodAutoscaler": 1,
            "PodDisruptionBudget": 1,
        },
    ),
    "persistent-data": (
        {"data": {"persistence": {"enabled": True, "storageClassName": "fast"}}},
        {"Deployment": 1, "Service": 1, "ConfigMap": 1, "Secret": 1, "PersistentVolumeClaim": 1},
    ),
    "upstream-engine": (
        {
            "config": {
                "engine": "upstream",
                "upstream_url": "http://vllm:8000/v1",
                "tokenizer": "/tokenizer",
                "upstream_max_connections": 128,
                "unlearning": True,
            },
            "extraEnv": [
                {
                    "name": "LETHE_UPSTREAM_API_KEY",
                    "valueFrom": {"secretKeyRef": {"name": "vllm", "key": "api-key"}},
                }
            ],
            "extraVolumes": [{"name": "tokenizer", "configMap": {"name": "tokenizer"}}],
            "extraVolumeMounts": [{"name": "tokenizer", "mountPath": "/tokenizer"}],
        },
        {"Deployment": 1, "Service": 1, "ConfigMap": 1, "Secret": 1},
    ),
}


def values_file(values: dict[str, Any], tmp_path: Path) -> str:
    """``values`` written to a values file for helm's ``-f``."""
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return str(path)


def helm_template(values: dict[str, Any], tmp_path: Path) -> tuple[int, str, str]:
    """``helm template`` of the chart with ``values``: (exit status, stdout, stderr)."""
    file = values_file(values, tmp_path)
    done = run([*helm(), "template", "rel", str(CHART), "--namespace", "ns", "-f", file])
    return done.returncode, done.stdout, done.stderr


def render(values: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """The objects the chart renders with ``values`` (the render must succeed)."""
    status, out, err = helm_template(values, tmp_path)
    assert status == 0, err
    return [doc for doc in yaml.safe_load_all(out) if doc]


def one(objects: list[dict[str, Any]], kind: str, component: str = "gateway") -> dict[str, Any]:
    """The single object of ``kind`` (of the gateway, or of PostgreSQL)."""
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"{len(found)} {kind} objects of {component}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The gateway's container."""
    (lethe_container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return lethe_container


def env_of(lethe_container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container's env entries by name."""
    return {e["name"]: e for e in lethe_container.get("env", [])}


def secret_data(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The chart's Secret, decoded."""
    data = one(objects, "Secret")["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_is_clean(name, tmp_path):
    file = values_file(VALUE_SETS[name][0], tmp_path)
    done = run([*helm(), "lint", "--strict", str(CHART), "-f", file])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout


@pytest.mark.parametrize("name", VALUE_SETS)
def test_renders_valid_kubernetes_objects(name, tmp_path):
    values, kinds = VALUE_SETS[name]
    objects = render(values, tmp_path)
    assert Counter(o["kind"] for o in objects) == Counter(kinds)
    for obj in objects:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{obj['kind']} {obj['metadata']['name']} on {version}: {exc}")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": 3}, "3 gateway replicas need a shared forget registry"),
        (
            {"autoscaling": {"enabled": True, "maxReplicas": 4}},
            "4 gateway replicas need a shared forget registry",
        ),
        (
            {"postgresql": {"enabled": True}, "registry": {"url": REGISTRY_URL}},
            "either postgresql.enabled or registry.url/registry.existingSecret",
        ),
        (
            {"adminKey": {"value": ADMIN_KEY, "existingSecret": "mine"}},
            "either adminKey.value or adminKey.existingSecret",
        ),
        (
            {
                "replicaCount": 2,
                "postgresql": {"enabled": True},
                "data": {"persistence": {"enabled": True}},
            },
            "data.persistence gives one pod a volume",
        ),
        ({"config": {"admin_key": ADMIN_KEY}}, "config.admin_key is a secret"),
        ({"config": {"registry_url": REGISTRY_URL}}, "use registry.url or registry.existingSecret"),
        ({"config": {"upstream_api_key": "k"}}, "use extraEnv with a secretKeyRef"),
        ({"config": {"port": 9000}}, "config.port is set by the chart"),
        # values.schema.json
        ({"config": {"no_such_setting": 1}}, "no_such_setting"),
        ({"replicaCount": "two"}, "replicaCount: Invalid type"),
        ({"adminKey": {"vaule": ADMIN_KEY}}, "Additional property vaule is not allowed"),
        ({"service": {"type": "Ingress"}}, "service.type must be one of"),
    ],
)
def test_bad_values_fail_with_a_clear_message(values, message, tmp_path):
    status, out, err = helm_template(values, tmp_path)
    assert status != 0, out
    assert message in err
    if "gateway replicas" in message:
        assert "set postgresql.enabled=true, registry.url or registry.existingSecret" in err


@pytest.mark.parametrize(
    "values",
    [{}, {"containerPort": 9000, "service": {"port": 80}}],
    ids=["default-port", "port-9000"],
)
def test_probes_and_ports_line_up(values, tmp_path):
    objects = render(values, tmp_path)
    lethe_container = container(objects)
    ports = {p["name"]: p["containerPort"] for p in lethe_container["ports"]}

    def port_of(ref: int | str) -> int:
        return ref if isinstance(ref, int) else ports[ref]

    listen = int(one(objects, "ConfigMap")["data"]["LETHE_PORT"])
    assert listen == values.get("containerPort", 8000)
    probes = {
        name: lethe_container[name]["httpGet"]
        for name in ("readinessProbe", "livenessProbe", "startupProbe")
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    assert {port_of(p["port"]) for p in probes.values()} == {listen}
    (service_port,) = one(objects, "Service")["spec"]["ports"]
    assert port_of(service_port["targetPort"]) == listen
    startup = lethe_container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # a slow model load
    assert lethe_container["command"] + lethe_container["args"] == [
        "lethe",
        "serve",
        "--host",
        "0.0.0.0",
    ]


@pytest.mark.parametrize("name", ["default", "external-registry-url", "replicas-with-postgresql"])
def test_secrets_stay_out_of_the_configmap(name, tmp_path):
    values = {**VALUE_SETS[name][0], "adminKey": {"value": ADMIN_KEY}}
    objects = render(values, tmp_path)
    configmap = one(objects, "ConfigMap")
    secrets = secret_data(objects)
    assert secrets["admin-key"] == ADMIN_KEY
    assert "LETHE_ADMIN_KEY" not in configmap["data"]
    for secret in secrets.values():
        assert secret not in json.dumps(configmap)
    env = env_of(container(objects))
    assert env["LETHE_ADMIN_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": one(objects, "Secret")["metadata"]["name"],
        "key": "admin-key",
    }
    assert all("value" not in e for e in env.values())


def test_generated_admin_key(tmp_path):
    key = secret_data(render({}, tmp_path))["admin-key"]
    assert len(key) == 32 and key.isalnum()


def test_existing_secrets_are_referenced_not_copied(tmp_path):
    objects = render(VALUE_SETS["existing-secrets"][0], tmp_path)
    assert not [o for o in objects if o["kind"] == "Secret"]
    env = env_of(container(objects))
    assert env["LETHE_ADMIN_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "lethe-admin",
        "key": "key",
    }
    assert env["LETHE_REGISTRY_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "lethe-registry",
        "key": "registry-url",
    }


def test_external_registry_url_comes_from_the_secret(tmp_path):
    objects = render(VALUE_SETS["external-registry-url"][0], tmp_path)
    assert secret_data(objects)["registry-url"] == REGISTRY_URL
    ref = env_of(container(objects))["LETHE_REGISTRY_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": one(objects, "Secret")["metadata"]["name"], "key": "registry-url"}
    assert "LETHE_REGISTRY_URL" not in one(objects, "ConfigMap")["data"]
    assert one(objects, "Deployment")["spec"]["replicas"] == 2


def test_chart_postgresql_is_the_registry_of_every_replica(tmp_path):
    objects = render(VALUE_SETS["replicas-with-postgresql"][0], tmp_path)
    url = one(objects, "ConfigMap")["data"]["LETHE_REGISTRY_URL"]
    service = one(objects, "Service", "postgresql")
    statefulset = one(objects, "StatefulSet", "postgresql")
    assert url == f"postgresql://lethe@{service['metadata']['name']}:5432/lethe"
    assert one(objects, "Deployment")["spec"]["replicas"] == 3
    # The password reaches libpq as PGPASSWORD, from the key the database was created with.
    (pg_container,) = statefulset["spec"]["template"]["spec"]["containers"]
    pg_password = env_of(pg_container)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert env_of(container(objects))["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == pg_password
    assert len(secret_data(objects)[pg_password["key"]]) == 32
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "8Gi"
    }


def test_selectors_keep_gateway_and_postgresql_apart(tmp_path):
    objects = render(VALUE_SETS["hpa-and-pdb"][0], tmp_path)

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    gateway_pod = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    pg_pod = one(objects, "StatefulSet", "postgresql")["spec"]["template"]["metadata"]["labels"]
    for selector in (
        one(objects, "Service")["spec"]["selector"],
        one(objects, "Deployment")["spec"]["selector"]["matchLabels"],
        one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selects(selector, gateway_pod) and not selects(selector, pg_pod)
    assert selects(one(objects, "Service", "postgresql")["spec"]["selector"], pg_pod)
    assert not selects(one(objects, "Service", "postgresql")["spec"]["selector"], gateway_pod)
    # With an HPA the Deployment leaves the replica count to it.
    assert "replicas" not in one(objects, "Deployment")["spec"]
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(objects, "Deployment")["metadata"]["name"]


def test_settings_become_lethe_variables_that_lethe_accepts(tmp_path, monkeypatch):
    objects = render(VALUE_SETS["upstream-engine"][0], tmp_path)
    data = one(objects, "ConfigMap")["data"]
    assert data["LETHE_ENGINE"] == "upstream"
    assert data["LETHE_UPSTREAM_MAX_CONNECTIONS"] == "128"
    env = env_of(container(objects))
    assert env["LETHE_UPSTREAM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "vllm"
    # The pod's environment, as Lethe reads it.
    for name in [n for n in os.environ if n.startswith("LETHE_")]:
        monkeypatch.delenv(name)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()  # unknown settings and bad values raise ConfigurationError
    assert (settings.engine, settings.upstream_url) == ("upstream", "http://vllm:8000/v1")
    assert settings.upstream_max_connections == 128
    assert settings.unlearning is True
    assert (settings.port, str(settings.data_dir)) == (8000, "/data")


def test_pods_run_as_the_image_user_with_writable_data_and_tmp(tmp_path):
    objects = render({}, tmp_path)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # deploy/Dockerfile's USER
    security = container(objects)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/data"]]
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_config_names_are_lethe_settings():
    from lethe.gateway.settings import Settings

    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    names = schema["properties"]["config"]["propertyNames"]["enum"]
    assert sorted(names) == sorted(Settings.model_fields)


def test_app_version_is_lethes():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == lethe.__version__


def test_the_makefile_installs_the_helm_these_tests_expect():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert f"HELM_VERSION := {HELM_NPM_VERSION}\n" in makefile
    version = run([*helm(), "version", "--short"]).stdout
    assert version.startswith("v3."), version
