"""KubernetesCollector failure modes: bad objects, unreachable servers, bad kubeconfigs, rejected credentials.

Real HTTP through the official client, against the local Kubernetes API or loopback stubs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import rest
from kubernetes.client.exceptions import ApiException

from app.collectors.errors import CollectorError
from app.collectors.k8s import KubernetesCollector
from sandbox.k8s_emulator import LocalKubernetes
from tests.collectors.conftest import CONTEXT, StubFactory, k8s_status
from tests.collectors.k8s_objects import FIXTURES, collector, container, load_fixture, node, pod


def test_a_malformed_quantity_skips_only_that_object_with_a_warning(k8s: LocalKubernetes, kubeconfig: Path) -> None:
    k8s.put_many([node("node-a"), pod("good"), pod("bad", containers=[container(cpu="lots")])])
    result = collector(kubeconfig).collect()
    assert [p.name for p in result.value.pods] == ["good"]
    assert len(result.warnings) == 1
    assert (
        result.warnings[0].source == f"kubernetes:{CONTEXT}" and "skipped Pod default/bad" in result.warnings[0].message
    )
    assert "lots" in result.warnings[0].message


def test_the_unsubstituted_oomkilled_fixture_is_skipped_with_a_warning_not_a_crash(
    k8s: LocalKubernetes, kubeconfig: Path
) -> None:
    obj = load_fixture((FIXTURES / "oomkilled-unhealthy.yaml").read_text())
    k8s.put_many([node(obj["spec"]["nodeName"]), obj, pod("fine", node_name=obj["spec"]["nodeName"])])
    result = collector(kubeconfig).collect()
    assert [p.name for p in result.value.pods] == ["fine"]
    assert "mission-control/oomkilled-pod" in result.warnings[0].message and "@now-2h" in result.warnings[0].message


def test_the_collector_only_sends_read_requests(
    k8s: LocalKubernetes, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k8s.put_many([node("node-a"), pod("web")])
    seen: list[tuple[str, str]] = []
    original = rest.RESTClientObject.request

    def spy(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((method, url))
        return original(self, method, url, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(rest.RESTClientObject, "request", spy)
    collector(kubeconfig).collect()
    assert len(seen) >= 12
    assert {method for method, _ in seen} == {"GET"}
    assert all("limit=500" in url for _, url in seen)


def test_an_unreachable_api_server_names_the_source_and_says_connection_refused(
    closed_port: int, tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "gone",
                "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{closed_port}"}}],
                "users": [{"name": "gone", "user": {"token": "t"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}],
            }
        )
    )
    with pytest.raises(CollectorError) as info:
        KubernetesCollector(path, "gone", "prod-east", "us-east-1", timeout=2).collect()
    assert info.value.source == "kubernetes:gone"
    assert f"cannot reach https://127.0.0.1:{closed_port}" in info.value.message
    assert "connection refused" in info.value.message


def test_a_context_missing_from_the_kubeconfig_lists_the_available_ones(k8s: LocalKubernetes, kubeconfig: Path) -> None:
    k8s.write_kubeconfig(kubeconfig, "staging-east")
    with pytest.raises(CollectorError) as info:
        KubernetesCollector(kubeconfig, "prod-west", "prod-west", "us-west-2").collect()
    assert info.value.source == "kubernetes:prod-west"
    assert "'prod-west' not found" in info.value.message
    assert f"available: staging-east, {CONTEXT}" in info.value.message


def test_a_missing_kubeconfig_file_is_reported_not_raised_from_the_client(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="does not exist"):
        KubernetesCollector(tmp_path / "nope", "x", "x", "us-east-1").collect()


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "rejected the credentials (401 Unauthorized): expired or invalid"), (403, "forbidden to list nodes (403)")],
)
def test_rejected_credentials_are_reported_as_expired_or_forbidden(
    http_stub: StubFactory, tmp_path: Path, status: int, expected: str
) -> None:

    stub = http_stub(status=status, body=k8s_status(status, "Unauthorized", "token expired"))
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "old",
                "clusters": [{"name": "old", "cluster": {"server": stub.url}}],
                "users": [{"name": "old", "user": {"token": "expired-token"}}],
                "contexts": [{"name": "old", "context": {"cluster": "old", "user": "old"}}],
            }
        )
    )
    with pytest.raises(CollectorError) as info:
        KubernetesCollector(path, "old", "prod-east", "us-east-1").collect()
    assert info.value.source == "kubernetes:old" and expected in info.value.message
    assert stub.requests and stub.requests[0].startswith("/api/v1/nodes?limit=500")


class _Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.data = json.dumps(body).encode()


def test_an_expired_continue_token_restarts_the_list_once_instead_of_mixing_two_snapshots(tmp_path: Path) -> None:

    calls: list[str | None] = []

    def fake_list(*, limit: int, _continue: str | None, **_: Any) -> _Response:
        calls.append(_continue)
        if _continue == "stale":
            raise ApiException(status=410, reason="Gone")
        if _continue is None and len(calls) == 1:
            return _Response({"items": [pod("old-a")], "metadata": {"continue": "stale"}})
        if _continue is None:
            return _Response({"items": [pod("new-a")], "metadata": {"continue": "fresh"}})
        return _Response({"items": [pod("new-b")], "metadata": {}})

    objs = KubernetesCollector(None, "c", "c", "us-east-1").list_all("pods", fake_list)
    assert [o["metadata"]["name"] for o in objs] == ["new-a", "new-b"]
    assert calls == [None, "stale", None, "fresh"]
