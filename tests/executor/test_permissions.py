"""The generated IAM policy and ClusterRole are sufficient: the collectors and every registered
action run against the sandbox with recording clients, and each AWS operation and Kubernetes
request they make is covered by what is declared. Plus the shape of both documents and the
`cloudoptim permissions` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import kubernetes.client
import pytest
import yaml
from botocore.config import Config
from kubernetes import client
from pydantic import BaseModel

from app.collectors.aws import AwsCollector
from app.collectors.k8s import KubernetesCollector
from engines import actions as specs
from executor import k8s_util as k
from executor import permissions
from executor.base import Action, ExecContext, K8sRule, Permissions, StepRecord
from executor.registry import all_actions
from sandbox.sandbox import Sandbox
from tests.executor.conftest import make_ctx

IAM_PREFIX = {"monitoring": "cloudwatch"}  # botocore signing names that differ from the IAM prefix
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass
class Calls:
    """What a run called: `ec2:RunInstances` and (apiGroup, resource, verb)."""

    aws: set[str] = field(default_factory=set)
    k8s: set[tuple[str, str, str]] = field(default_factory=set)

    def on_boto(self, model: Any, **_: Any) -> None:
        signing = model.service_model.signing_name
        self.aws.add(f"{IAM_PREFIX.get(signing, signing)}:{model.name}")

    def on_http(self, method: str, url: str) -> None:
        self.k8s.add(k8s_request(method, url))

    def wrap(self, call_api: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            self.on_http(method, url)
            return call_api(method, url, *args, **kwargs)

        return recorded


def k8s_request(method: str, url: str) -> tuple[str, str, str]:
    """GET /apis/apps/v1/namespaces/x/deployments/y/scale -> ("apps", "deployments/scale", "get")."""
    parts, query = urlsplit(url).path.strip("/").split("/"), parse_qs(urlsplit(url).query)
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]  # a namespaced resource, not the namespace itself
    resource = "/".join([rest[0], *rest[2:3]])
    if method == "GET":
        verb = "get" if len(rest) > 1 else ("watch" if query.get("watch") == ["true"] else "list")
    elif method == "DELETE":
        verb = "delete" if len(rest) > 1 else "deletecollection"
    else:
        verb = VERBS[method]
    return group, resource, verb


def uncovered(calls: Calls, declared: Permissions) -> list[str]:
    grants = permissions.k8s_grants(declared.k8s)
    missing = sorted(a for a in calls.aws if a not in declared.iam)
    missing += sorted(f"{g or 'core'}/{r} {v}" for g, r, v in calls.k8s if v not in grants.get((g, r), set()))
    return missing


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sb"), reconcile_interval=0.2) as sb:
        yield sb


def recording_ctx(sb: Sandbox, cluster: str, calls: Calls, steps: list[StepRecord]) -> ExecContext:
    api = sb.kube[cluster].api_client()
    api.call_api = calls.wrap(api.call_api)  # type: ignore[method-assign]
    ec2 = sb.aws.boto3_session().client("ec2", endpoint_url=sb.aws.endpoint_url,
                                        config=Config(retries={"total_max_attempts": 1}))
    ec2.meta.events.register("before-call.*.*", calls.on_boto)
    return make_ctx(steps, ec2=ec2, core=client.CoreV1Api(api), apps=client.AppsV1Api(api),
                    policy=client.PolicyV1Api(api), cluster=cluster, poll_interval_s=0.1, drain_timeout_s=30.0,
                    node_join_timeout_s=30.0)


# --- one runnable spec per registered action kind, built from the sandbox estate --------------
def _volume(sb: Sandbox, name: str) -> dict[str, Any]:
    vols = sb.aws.client("ec2").describe_volumes(Filters=[{"Name": "tag:Name", "Values": [name]}])["Volumes"]
    return dict(vols[0])


def _node(ctx: ExecContext, capacity: str, index: int) -> tuple[str, str, str]:
    """(node, instance id, type) of the index-th untainted node of a capacity type."""
    nodes = sorted((n for n in k.call_json(ctx.core.list_node)["items"]
                    if (k.meta(n).get("labels") or {}).get("karpenter.sh/capacity-type") == capacity
                    and not k.spec(n).get("taints")), key=lambda n: k.meta(n)["name"])
    node = nodes[index]
    labels = k.meta(node)["labels"]
    return str(k.meta(node)["name"]), str(k.instance_id_of(node)), str(labels["node.kubernetes.io/instance-type"])


def _workload(ctx: ExecContext, namespace: str, name: str) -> dict[str, Any]:
    return k.call_json(ctx.apps.read_namespaced_deployment, name, namespace)


Factory = Callable[[Sandbox, ExecContext], BaseModel]
CASES: dict[str, tuple[str, Factory]] = {
    "stop-instance": ("prod-east", lambda sb, _c: specs.StopInstance(instance_id=sb.standalone_instances["legacy-reporting"])),
    "terminate-instance": ("prod-east", lambda sb, _c: specs.TerminateInstance(instance_id=sb.standalone_instances["ci-runner-old"])),
    "snapshot-and-delete-volume": ("prod-east", lambda sb, _c: specs.SnapshotAndDeleteVolume(
        volume_id=_volume(sb, "old-jenkins-data")["VolumeId"])),
    "modify-volume-type": ("prod-east", lambda sb, _c: specs.ModifyVolumeType(
        volume_id=_volume(sb, "db-migration-2024")["VolumeId"], from_type="io1", to_type="gp3")),
    "replace-node-type": ("staging-east", lambda _sb, c: specs.ReplaceNodeType(
        node=(n := _node(c, "on-demand", 0))[0], instance_id=n[1], from_type=n[2], to_type="m5.large")),
    "move-to-spot": ("staging-east", lambda _sb, c: specs.MoveToSpot(
        node=(n := _node(c, "on-demand", 1))[0], instance_id=n[1], from_type=n[2], to_types=("m5.xlarge",))),
    "drain-and-remove-node": ("prod-east", lambda _sb, c: specs.DrainAndRemoveNode(
        node=(n := _node(c, "spot", 2))[0], instance_id=n[1])),
    "scale-replicas": ("prod-east", lambda _sb, c: specs.ScaleReplicas(
        namespace="boutique", workload_kind="Deployment", workload_name="frontend",
        from_replicas=int(_workload(c, "boutique", "frontend")["spec"]["replicas"]), to_replicas=2)),
    "set-requests-limits": ("staging-east", lambda _sb, _c: specs.SetRequestsLimits(
        namespace="teastore", workload_kind="Deployment", workload_name="teastore-webui", container="teastore-webui",
        cpu_request=1.0, memory_request=1024**3)),
    "schedule-scale": ("staging-east", lambda _sb, _c: specs.ScheduleScale(
        namespace="bookinfo", workload_kind="Deployment", workload_name="reviews-v1",
        scale_down_cron="0 20 * * 1-5", scale_up_cron="0 7 * * 1-5")),
    "set-traffic-distribution": ("prod-east", lambda _sb, _c: specs.SetTrafficDistribution(
        namespace="boutique", service="frontend")),
    "set-preferred-affinity": ("prod-east", lambda _sb, _c: specs.SetPreferredAffinity(
        namespace="boutique", workload_kind="Deployment", workload_name="frontend",
        peer_namespace="boutique", peer_labels={"app": "productcatalogservice"})),
}


def test_every_registered_action_has_a_coverage_case() -> None:
    assert sorted(all_actions()) == sorted(CASES)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_action_calls_only_what_it_declares(sandbox: Sandbox, kind: str) -> None:
    action: Action[Any] = all_actions()[kind]
    cluster, factory = CASES[kind]
    calls, steps = Calls(), list[StepRecord]()
    ctx = recording_ctx(sandbox, cluster, calls, steps)
    spec = factory(sandbox, ctx)
    calls.aws.clear()
    calls.k8s.clear()  # what the test read to build the spec is not the action's

    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    action.apply(ctx, spec, plan)
    assert action.verify(ctx, spec, plan) == []
    if plan.reversible and action.rollback_spec(plan) is None:
        action.rollback(ctx, plan)  # a direct rollback calls the API too (stop -> StartInstances)

    assert calls.aws or calls.k8s
    assert uncovered(calls, action.permissions) == [], f"{kind} calls what it does not declare"


def test_the_read_only_policy_and_role_cover_every_call_the_collectors_make(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls()
    for key, value in sandbox.aws_env.items():
        monkeypatch.setenv(key, value)
    session = boto3.Session()
    session.events.register("before-call.*.*", calls.on_boto)
    original = kubernetes.client.ApiClient.call_api

    def recorded(api: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.on_http(method, url)
        return original(api, method, url, *args, **kwargs)

    # The collector builds its own ApiClient from the kubeconfig: record at the class.
    monkeypatch.setattr(kubernetes.client.ApiClient, "call_api", recorded)

    AwsCollector("us-east-1", session).collect()
    KubernetesCollector(sandbox.kubeconfig_path, "prod-east", "prod-east", "us-east-1").collect()

    policy, role = permissions.iam_policy(read_only=True), permissions.cluster_role(read_only=True)
    assert {"sts:GetCallerIdentity", "ec2:DescribeInstances", "ec2:DescribeVolumes", "cloudwatch:GetMetricData",
            "events:ListRules", "events:ListTargetsByRule", "sqs:GetQueueUrl"} <= calls.aws
    assert {("", "nodes", "list"), ("apps", "deployments", "list"), ("batch", "jobs", "list"),
            ("policy", "poddisruptionbudgets", "list"), ("autoscaling", "horizontalpodautoscalers", "list")} <= calls.k8s
    assert [a for a in sorted(calls.aws) if not permissions.iam_allows(policy, a)] == []
    assert [c for c in sorted(calls.k8s) if not permissions.rbac_allows(role, *c)] == []


# --- the documents ---------------------------------------------------------------------------
def fake_action(kind: str, perms: Permissions) -> Action[Any]:
    """An action that only declares permissions (the documents read nothing else)."""
    action: Action[Any] = type(f"Fake_{kind}", (Action,), {"kind": kind, "permissions": perms})()
    return action


def test_the_policy_has_sorted_unique_reads_and_actions_and_passrole_only_towards_ec2() -> None:
    doc = permissions.iam_policy({
        "a": fake_action("a", Permissions(iam=("ec2:TerminateInstances", "ec2:DescribeInstances", "iam:PassRole"))),
        "b": fake_action("b", Permissions(iam=("ec2:RunInstances", "ec2:TerminateInstances")))})

    read, act, passrole = doc["Statement"]
    assert doc["Version"] == "2012-10-17" and read["Sid"] == "CloudOptimRead"
    assert read["Action"] == sorted(set(read["Action"])) and "ec2:DescribeInstances" in read["Action"]
    assert act["Action"] == ["ec2:RunInstances", "ec2:TerminateInstances"]  # DescribeInstances is a read already
    assert passrole["Action"] == ["iam:PassRole"]
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}


def test_the_cluster_role_merges_rules_by_api_group_and_verbs_in_sorted_order() -> None:
    perms = Permissions(k8s=(K8sRule("", ("nodes",), ("patch", "get")), K8sRule("", ("nodes",), ("list",)),
                             K8sRule("", ("pods/eviction",), ("create",))))
    role = permissions.cluster_role({"x": fake_action("x", perms)})

    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1" and role["kind"] == "ClusterRole"
    keys = [(r["apiGroups"][0], r["resources"]) for r in role["rules"]]
    assert keys == sorted(keys)
    nodes = next(r for r in role["rules"] if "nodes" in r["resources"])
    assert nodes["verbs"] == ["get", "list", "patch"] and nodes["apiGroups"] == [""]
    assert permissions.rbac_allows(role, "", "pods/eviction", "create")
    assert not permissions.rbac_allows(role, "", "pods", "delete")


def test_cloudoptim_permissions_prints_a_json_policy_and_a_yaml_cluster_role() -> None:
    cli = str(Path(sys.executable).parent / "cloudoptim")
    iam = subprocess.run([cli, "permissions", "--format", "iam"], capture_output=True, text=True, timeout=60,
                         env=os.environ.copy(), check=False)
    rbac = subprocess.run([cli, "permissions", "--format", "rbac"], capture_output=True, text=True, timeout=60,
                          env=os.environ.copy(), check=False)

    assert iam.returncode == 0 and rbac.returncode == 0, iam.stderr + rbac.stderr
    policy = json.loads(iam.stdout)
    assert policy == permissions.iam_policy()
    assert permissions.iam_allows(policy, "ec2:RunInstances") and permissions.iam_allows(policy, "pricing:GetProducts")
    role = yaml.safe_load(rbac.stdout)
    assert role == permissions.cluster_role()
    assert permissions.rbac_allows(role, "", "pods/eviction", "create")


def test_the_cluster_role_lets_the_schedule_enforcer_suspend_cronjobs_and_lower_hpa_minimums_unless_read_only() -> None:
    grants = permissions.k8s_grants(permissions.all_k8s_rules())
    assert {"list", "patch"} <= grants[("batch", "cronjobs")]
    assert {"list", "patch"} <= grants[("autoscaling", "horizontalpodautoscalers")]
    assert {"patch"} <= grants[("apps", "deployments/scale")]
    read_only = permissions.k8s_grants(permissions.all_k8s_rules(read_only=True))
    assert ("batch", "cronjobs") not in read_only
    assert "patch" not in read_only[("autoscaling", "horizontalpodautoscalers")]
