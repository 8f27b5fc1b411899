"""deploy/k8s: every manifest validates offline against the Kubernetes 1.32 schemas (strict: an
unknown field fails), and the manifests say what deploy/README.md says they do."""

from __future__ import annotations

import ast
import copy
import ipaddress
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api.cli import main
from api.core.settings import Settings
from tests.unit.deploy.files import (
    K8S,
    command_line,
    containers,
    dockerfile,
    exec_form,
    manifest_files,
    manifests,
    pod_spec,
    resource,
    setting_names,
    workloads,
)

KUBERNETES_VERSION = "1.32.0"
OLDEST_SUPPORTED = "1.25.0"  # deploy/README.md promises 1.25 or later
API_LABELS = {"app.kubernetes.io/name": "healthbook", "app.kubernetes.io/component": "api"}

# Values a real Secret would hold, for the keys of the template (placeholders there).
SECRET_VALUES = {
    "DATABASE_URL": "postgresql+asyncpg://healthbook:pw@postgresql:5432/healthbook",
    "REDIS_URL": "redis://:pw@redis:6379/0",
    "IDENTIFIER_HASH_KEY": "k8s-test-identifier-hash-key-0123456789abcdef",
    "DOCUMENT_ENCRYPTION_KEYS": "k1:" + "A" * 43 + "=",
    "METRICS_TOKEN": "k8s-test-metrics-token-0123456789abcdef",
}


def image_command() -> tuple[list[str], list[str]]:
    runtime = dockerfile().stages[-1]
    return exec_form(runtime.all("ENTRYPOINT")[-1]), exec_form(runtime.all("CMD")[-1])


def runs(container: dict[str, Any]) -> list[str]:
    return command_line(container, *image_command())


@pytest.mark.parametrize(
    ("source", "document"),
    [(name, doc) for name, doc in manifests()],
    ids=[f"{name}:{doc['kind']}/{doc['metadata']['name']}" for name, doc in manifests()],
)
def test_every_manifest_validates_strictly(source: str, document: dict[str, Any]) -> None:
    for version in (KUBERNETES_VERSION, OLDEST_SUPPORTED):
        kubernetes_validate.validate(document, version, strict=True)
    assert "namespace" not in document["metadata"], f"{source}: namespace-agnostic, please"


def test_the_validator_is_strict_about_unknown_fields_and_types() -> None:
    deployment = copy.deepcopy(resource("Deployment", "healthbook-api"))
    pod_spec(deployment)["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    deployment = copy.deepcopy(resource("Deployment", "healthbook-api"))
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_kind_the_issue_asks_for_is_there() -> None:
    kinds = {(document["apiVersion"], document["kind"]) for _, document in manifests()}
    assert {
        ("apps/v1", "Deployment"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "Service"),
        ("networking.k8s.io/v1", "Ingress"),
        ("batch/v1", "Job"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    } <= kinds


def test_kustomization_applies_everything_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == {p.name for p in manifest_files()} - {"secret.template.yaml"}
    for name in listed:
        assert "REPLACE-ME" not in (K8S / name).read_text(), name
    assert [image["name"] for image in kustomization["images"]] == ["healthbook"]
    for workload in workloads():
        for container in containers(workload):
            assert container["image"] == "healthbook", container["name"]


def test_the_secret_template_is_placeholders_only() -> None:
    text = (K8S / "secret.template.yaml").read_text()
    assert text.startswith("# TEMPLATE - NOT APPLIED")
    for name, document in manifests():
        if document["kind"] == "Secret":
            assert name == "secret.template.yaml"
            for key, value in document["stringData"].items():
                assert "REPLACE-ME" in key + value, f"{document['metadata']['name']}: {key}"


def test_the_api_has_probes_resources_and_a_locked_down_pod() -> None:
    deployment = resource("Deployment", "healthbook-api")
    (api,) = pod_spec(deployment)["containers"]
    assert runs(api) == ["healthbook", "serve"]
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert api["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    # the readiness check waits up to DATABASE_TIMEOUT_SECONDS for the database
    config = resource("ConfigMap", "healthbook-config")["data"]
    assert api["readinessProbe"]["timeoutSeconds"] > float(config["DATABASE_TIMEOUT_SECONDS"])
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in deployment["spec"]  # the HPA owns the count


@pytest.mark.parametrize("workload", workloads(), ids=[w["metadata"]["name"] for w in workloads()])
def test_every_pod_runs_non_root_read_only_with_no_capabilities(workload: dict[str, Any]) -> None:
    spec = pod_spec(workload)
    runtime_user = dockerfile().stages[-1].all("USER")[-1].split(":")[0]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == int(runtime_user)
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert (
        spec["serviceAccountName"] == resource("ServiceAccount", "healthbook")["metadata"]["name"]
    )
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for container in containers(workload):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsNonRoot"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        resources = container["resources"]
        assert resources["requests"]["cpu"]
        assert resources["requests"]["memory"]
        assert resources["limits"]["memory"]
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], container["name"]


def test_the_migrate_job_runs_healthbook_migrate_once() -> None:
    job = resource("Job", "healthbook-migrate")
    spec = pod_spec(job)
    (migrate,) = spec["containers"]
    assert runs(migrate) == ["healthbook", "migrate"]
    assert spec["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def wait_for_schema(name: str) -> dict[str, Any]:
    (init,) = pod_spec(resource("Deployment", name))["initContainers"]
    assert init["name"] == "wait-for-schema"
    return init


def test_api_and_worker_pods_wait_for_the_migrated_schema() -> None:
    api = wait_for_schema("healthbook-api")
    worker = wait_for_schema("healthbook-worker")
    assert api == worker
    command = api["command"]
    assert command[:2] == ["python", "-c"]
    tree = ast.parse(command[2])
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    for module, name in imported:  # everything it imports exists in this code base
        assert hasattr(__import__(module, fromlist=[name]), name), f"{module}.{name}"
    assert ("api.db.migrate", "current_revision") in imported


def test_the_worker_runs_the_relay() -> None:
    deployment = resource("Deployment", "healthbook-worker")
    (worker,) = pod_spec(deployment)["containers"]
    assert runs(worker) == ["healthbook", "worker"]
    assert deployment["spec"]["replicas"] >= 2
    # a hung relay is restarted: the probe asks the worker's /health/live on its metrics port,
    # which the worker serves there (and Prometheus scrapes, per the pod's annotations)
    probe = worker["livenessProbe"]
    assert probe["httpGet"] == {"path": "/health/live", "port": "metrics"}
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
    environment = {variable["name"]: variable.get("value") for variable in worker["env"]}
    assert environment["WORKER_METRICS_PORT"] == "9102"
    assert environment["WORKER_METRICS_HOST"] == "0.0.0.0"
    metrics_settings = {
        name: environment[name] for name in ("WORKER_METRICS_HOST", "WORKER_METRICS_PORT")
    }
    seen = Settings.from_env({**production_environment(), **metrics_settings})
    assert seen.notifications.worker_metrics_port == 9102
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9102",
        "prometheus.io/path": "/metrics",
    }
    assert "worker-alive" in main.commands  # the heartbeat check, for runtimes without HTTP
    mounts = {mount["mountPath"]: mount for mount in worker["volumeMounts"]}
    assert "/tmp" in mounts  # where the heartbeat goes (the root file system is read-only)
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    # unset, it goes to the temporary directory: /tmp in the container, which sets no TMPDIR
    assert Settings().notifications.effective_worker_heartbeat_file.parent == Path(
        tempfile.gettempdir()
    )
    assert "TMPDIR" not in {e["name"] for e in worker.get("env", [])}
    assert "TMPDIR" not in resource("ConfigMap", "healthbook-config")["data"]


def env_sources(workload: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """(ConfigMaps, Secrets, env names) that a workload's containers read settings from."""
    config_maps: set[str] = set()
    secrets: set[str] = set()
    names: set[str] = set()
    for container in containers(workload):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                config_maps.add(source["configMapRef"]["name"])
            if "secretRef" in source:
                secrets.add(source["secretRef"]["name"])
        names.update(variable["name"] for variable in container.get("env", []))
    return config_maps, secrets, names


def test_every_environment_variable_is_a_real_setting() -> None:
    for workload in workloads():
        config_maps, secrets, names = env_sources(workload)
        assert config_maps == {"healthbook-config"}
        assert secrets == set(), "secrets are mounted as files, never put in the environment"
        assert names <= setting_names(), workload["metadata"]["name"]
    for kind, name, field in (
        ("ConfigMap", "healthbook-config", "data"),
        ("Secret", "healthbook-secrets", "stringData"),
    ):
        unknown = set(resource(kind, name)[field]) - setting_names()
        assert not unknown, f"{kind} {name}: {sorted(unknown)} are not in api/core/settings.py"


def secret_files(spec: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """The settings a container reads from files (``NAME_FILE``): NAME -> the key of the
    healthbook-secrets Secret mounted at that path (asserting the path is such a mount)."""
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    mounts = {mount["mountPath"]: mount for mount in container.get("volumeMounts", [])}
    found: dict[str, str] = {}
    for variable in container.get("env", []):
        if not variable["name"].endswith("_FILE"):
            continue
        name = variable["name"].removesuffix("_FILE")
        path = PurePosixPath(variable["value"])
        mount = mounts[str(path.parent)]
        assert mount["readOnly"] is True
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == "healthbook-secrets"
        assert oct(secret["defaultMode"]) == "0o440"
        items = {item["path"]: item["key"] for item in secret["items"]}
        found[name] = items[path.name]
        assert found[name] == name
    return found


@pytest.mark.parametrize(
    ("kind", "name", "needs"),
    [
        ("Deployment", "healthbook-api", set(SECRET_VALUES)),
        ("Deployment", "healthbook-worker", set(SECRET_VALUES)),
        ("Job", "healthbook-migrate", set(SECRET_VALUES) - {"METRICS_TOKEN"}),
    ],
)
def test_each_container_gets_the_secrets_it_needs_as_files_and_no_more(
    kind: str, name: str, needs: set[str]
) -> None:
    spec = pod_spec(resource(kind, name))
    config = resource("ConfigMap", "healthbook-config")["data"]
    (container,) = spec["containers"]
    files = secret_files(spec, container)
    assert set(files) == needs
    # what the container sees: the ConfigMap, and each mounted file's value in place of NAME_FILE
    seen = {**config, **{variable: SECRET_VALUES[key] for variable, key in files.items()}}
    assert Settings.from_env(seen).production
    for init in spec.get("initContainers", []):
        # the schema wait reads the database URL and nothing else: no ConfigMap, no other secret
        assert "envFrom" not in init
        assert secret_files(spec, init) == {"DATABASE_URL": "DATABASE_URL"}
        assert {variable["name"] for variable in init["env"]} == {"DATABASE_URL_FILE"}
        volumes = {mount["name"] for mount in init["volumeMounts"]}
        for volume in spec["volumes"]:
            if volume["name"] in volumes and "secret" in volume:
                assert [item["key"] for item in volume["secret"]["items"]] == ["DATABASE_URL"]


def production_environment() -> dict[str, str]:
    secret = resource("Secret", "healthbook-secrets")["stringData"]
    assert set(secret) == set(SECRET_VALUES)
    config = resource("ConfigMap", "healthbook-config")["data"]
    assert not set(config) & set(secret), "a setting is both in the ConfigMap and the Secret"
    return {**config, **SECRET_VALUES}


def test_configmap_and_secret_make_a_production_configuration_the_service_accepts() -> None:
    settings = Settings.from_env(production_environment())  # raises naming what is missing
    assert settings.production
    assert settings.http.host == "0.0.0.0"
    assert settings.http.workers == 1
    assert settings.relay_in_process is False
    assert settings.migrate_on_start is False


@pytest.mark.parametrize("name", ["healthbook-api", "healthbook-worker"])
def test_keys_and_fcm_credentials_are_mounted_where_the_settings_point(name: str) -> None:
    settings = Settings.from_env(production_environment())
    spec = pod_spec(resource("Deployment", name))
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    (container,) = spec["containers"]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    keys = mounts[settings.security.signing_keys_dir]
    assert keys["readOnly"] is True
    assert volumes[keys["name"]]["secret"]["secretName"] == "healthbook-signing-keys"
    fcm_path = PurePosixPath(settings.notifications.fcm_credentials)
    fcm = mounts[str(fcm_path.parent)]
    secret_name = volumes[fcm["name"]]["secret"]["secretName"]
    assert secret_name == "healthbook-fcm"
    assert fcm_path.name in resource("Secret", secret_name)["stringData"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


def test_service_hpa_pdb_and_ingress_point_at_the_api() -> None:
    deployment = resource("Deployment", "healthbook-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == API_LABELS
    service = resource("Service", "healthbook-api")
    assert selects({"matchLabels": service["spec"]["selector"]}, labels)
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    hpa = resource("HorizontalPodAutoscaler", "healthbook-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "healthbook-api",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert selects(resource("PodDisruptionBudget", "healthbook-api")["spec"]["selector"], labels)
    ingress = resource("Ingress", "healthbook-api")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"] == {
                "name": "healthbook-api",
                "port": {"name": "http"},
            }


def policy_for(labels: dict[str, str]) -> dict[str, Any]:
    (policy,) = [
        document
        for _, document in manifests()
        if document["kind"] == "NetworkPolicy" and selects(document["spec"]["podSelector"], labels)
    ]
    return policy


def egress_ports(policy: dict[str, Any]) -> set[tuple[str, int]]:
    return {
        (port["protocol"], port["port"])
        for rule in policy["spec"]["egress"]
        for port in rule["ports"]
    }


def prometheus_scrape(port: int) -> dict[str, Any]:
    """The ingress rule letting the cluster's Prometheus scrape ``port``."""
    return {
        "from": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": port}],
    }


def test_network_policies_cover_every_pod_and_allow_only_what_each_needs() -> None:
    for workload in workloads():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        policy = policy_for(labels)
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    api = policy_for(
        resource("Deployment", "healthbook-api")["spec"]["template"]["metadata"]["labels"]
    )
    rule, scrape = api["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "ingress-nginx"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert scrape == prometheus_scrape(8000)
    everything = {("TCP", 5432), ("TCP", 6379), ("UDP", 53), ("TCP", 53), ("TCP", 443)}
    assert egress_ports(api) == everything
    worker_labels = resource("Deployment", "healthbook-worker")["spec"]["template"]["metadata"]
    worker = policy_for(worker_labels["labels"])
    # nothing connects to a relay but Prometheus, to its metrics port
    assert worker["spec"]["ingress"] == [prometheus_scrape(9102)]
    assert egress_ports(worker) == everything
    migrate_labels = resource("Job", "healthbook-migrate")["spec"]["template"]["metadata"]
    assert egress_ports(policy_for(migrate_labels["labels"])) == {
        ("TCP", 5432),
        ("UDP", 53),
        ("TCP", 53),
    }


def test_outbound_https_goes_to_public_addresses_only() -> None:
    api = policy_for(
        resource("Deployment", "healthbook-api")["spec"]["template"]["metadata"]["labels"]
    )
    (https,) = [rule for rule in api["spec"]["egress"] if rule["ports"][0]["port"] == 443]
    for peer in https["to"]:
        block = peer["ipBlock"]
        excluded = [ipaddress.ip_network(cidr) for cidr in block["except"]]
        network = ipaddress.ip_network(block["cidr"])
        for private in (
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
            "fc00::/7",
        ):
            candidate = ipaddress.ip_network(private)
            if candidate.version == network.version:
                assert any(candidate.subnet_of(cidr) for cidr in excluded), private
