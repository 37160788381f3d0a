"""deploy/k8s/: valid Kubernetes objects, and a drain that matches the receiver's.

Every document is validated offline against the Kubernetes schemas ``kubernetes-validate``
ships (strict: an unknown field is an error, as ``kubectl apply --validate=strict`` says).
Then what the schemas cannot know: the grace period covers the receiver's drain delay plus
its drain of running uploads, the drain delay outlasts the readiness probe's failures, the
probe asks the receiver's health service over TLS, the secrets are a directory mount, and the
Service, PodDisruptionBudget and autoscaler select the Deployment they are for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cloudz.settings import PROJECT_ROOT, Settings

K8S = PROJECT_ROOT / "deploy" / "k8s"
#: the oldest Kubernetes minor GKE's regular channel runs while this was written; the newest
#: schema the package ships is checked too
VERSIONS = ("1.33.0", kubernetes_validate.latest_version())


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert found, "no manifest under deploy/k8s"
    return found


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in _documents() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(version: str) -> None:
    for path, doc in _documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_a_broken_manifest_is_refused() -> None:
    """The validator is live: a misspelt field and a wrong type are errors."""
    deployment = _one("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)
    wrong = {
        **deployment,
        "spec": {
            **deployment["spec"],
            "template": {
                **deployment["spec"]["template"],
                "spec": {**spec, "terminationGracePeriodSeconds": "sixty"},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, VERSIONS[0], strict=True)


def _receiver() -> tuple[dict[str, Any], dict[str, Any]]:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_grace_period_covers_the_receivers_drain() -> None:
    from ingest_service.server import DRAIN_SECONDS

    pod, container = _receiver()
    delay = int(_env(container)["CLOUDZ_RECEIVER_DRAIN_DELAY_SECONDS"])
    readiness = container["readinessProbe"]
    # the endpoint leaves the Service (readiness failed) before the replica refuses a call
    assert delay > readiness["periodSeconds"] * readiness["failureThreshold"]
    assert pod["terminationGracePeriodSeconds"] >= delay + DRAIN_SECONDS
    # and the grace is not so long that a stuck replica blocks a rollout for minutes
    assert pod["terminationGracePeriodSeconds"] <= 2 * (delay + DRAIN_SECONDS)
    # liveness never kills a draining replica: it only opens the port
    assert set(container["livenessProbe"]) >= {"tcpSocket"}


def test_readiness_asks_the_health_service_over_tls() -> None:
    from ingest_service.server import SERVICE_NAME

    _, container = _receiver()
    command = " ".join(container["readinessProbe"]["exec"]["command"])
    assert "grpc.secure_channel" in command and "insecure_channel" not in command
    assert f'service="{SERVICE_NAME}"' in command
    assert f"127.0.0.1:{Settings().receiver_port}" in command
    assert "HealthCheckResponse.SERVING" in command
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": Settings().receiver_port, "metrics": Settings().receiver_metrics_port}


def test_the_probe_command_is_python_that_compiles() -> None:
    _, container = _receiver()
    command = container["readinessProbe"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "readinessProbe", "exec")


def test_the_receiver_serves_tls_from_a_directory_mount_of_secrets() -> None:
    pod, container = _receiver()
    env = _env(container)
    assert "CLOUDZ_RECEIVER_PLAINTEXT" not in env
    for key in (
        "CLOUDZ_RECEIVER_TLS_CERT",
        "CLOUDZ_RECEIVER_TLS_KEY",
        "CLOUDZ_RECEIVER_CREDENTIALS",
    ):
        assert Path(env[key]).parent == Path("/run/cloudz"), key
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/run/cloudz"]
    assert "subPath" not in mount, "a single-file mount never shows a replaced credentials file"
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secrets = {s["secret"]["name"] for s in volume["projected"]["sources"]}
    assert secrets == {"cloudz-receiver-tls", "cloudz-receiver-credentials"}
    assert env["CLOUDZ_AIRFLOW_PASSWORD"] == {
        "secretKeyRef": {"name": "cloudz-receiver-airflow", "key": "password"}
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_service_budget_and_autoscaler_select_the_receivers() -> None:
    deployment = _one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = [d for _, d in _documents() if d["kind"] == "Service"]
    assert {s["spec"]["type"] for s in services} == {"LoadBalancer", "ClusterIP"}
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
    public = next(s for s in services if s["spec"]["type"] == "LoadBalancer")
    assert [p["port"] for p in public["spec"]["ports"]] == [Settings().receiver_port]
    budget = _one("PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = _one("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2, "one replica left by a disruption keeps serving"
    assert budget["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]
