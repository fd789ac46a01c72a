"""Services through KubernetesCollector against the local Kubernetes API (real HTTP, official client)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.collectors.k8s_convert import service_from_api
from engines.snapshot import Service, ServicePort
from sandbox.estate import CLUSTERS
from sandbox.estate_k8s import load_app
from sandbox.k8s_emulator import LocalKubernetes
from tests.collectors.k8s_objects import collector


def svc(name: str, namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}], **spec}}


def test_services_carry_type_selector_traffic_distribution_policy_and_ports(
    k8s: LocalKubernetes, kubeconfig: Path
) -> None:
    k8s.put_many([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        svc("api", selector={"app": "api"}, type="ClusterIP", trafficDistribution="PreferClose",
            internalTrafficPolicy="Local", ports=[{"port": 8080, "protocol": "TCP"}, {"port": 9090, "protocol": "UDP"}]),
        svc("legacy"),  # no selector: endpoints managed by hand
        svc("db-ext", type="ExternalName", externalName="db.example.com"),
    ])
    result = collector(kubeconfig).collect()
    services = {s.name: s for s in result.value.services}
    assert result.warnings == ()
    assert services["api"] == Service(
        name="api", namespace="shop", type="ClusterIP", selector={"app": "api"}, traffic_distribution="PreferClose",
        internal_traffic_policy="Local", ports=(ServicePort(port=8080), ServicePort(port=9090, protocol="UDP")),
        labels={}, annotations={},
    )
    assert services["legacy"].selector == {} and services["legacy"].traffic_distribution is None
    assert services["db-ext"].type == "ExternalName"


def test_every_page_of_services_is_collected(k8s: LocalKubernetes, kubeconfig: Path) -> None:
    k8s.put_many([svc(f"svc-{i}", selector={"app": f"a{i}"}) for i in range(7)])
    services = collector(kubeconfig, page_size=2).collect().value.services
    assert sorted(s.name for s in services) == [f"svc-{i}" for i in range(7)]


def test_a_malformed_service_is_skipped_with_a_warning_and_the_others_kept(
    k8s: LocalKubernetes, kubeconfig: Path
) -> None:
    k8s.put_many([svc("good", selector={"app": "good"}), svc("bad", ports=[{"port": "eighty"}])])
    result = collector(kubeconfig).collect()
    assert [s.name for s in result.value.services] == ["good"]
    assert len(result.warnings) == 1 and result.warnings[0].degraded
    assert "skipped Service shop/bad" in result.warnings[0].message


def test_a_service_without_a_type_is_cluster_ip_as_the_api_server_defaults_it() -> None:
    converted = service_from_api({"metadata": {"name": "x", "namespace": "n"}, "spec": {"selector": {"a": "b"}}})
    assert converted.type == "ClusterIP" and converted.ports == ()


def test_the_sandbox_estate_services_are_served_and_collected(k8s: LocalKubernetes, kubeconfig: Path) -> None:
    boutique = next(a for c in CLUSTERS for a in c.apps if a.namespace == "boutique")
    manifests = [o for o in load_app(boutique) if o["kind"] == "Service"]
    k8s.put_many(manifests)
    services = {s.name: s for s in collector(kubeconfig).collect().value.services}
    assert len(services) == len(manifests) >= 10
    assert services["frontend"].selector == {"app": "frontend"}
    assert services["frontend-external"].type == "LoadBalancer"
