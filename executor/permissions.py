"""Least-privilege permissions generated from code: an IAM policy and a Kubernetes ClusterRole.

`cloudoptim permissions --format iam|rbac` (cli.permissions) prints them. Two sources: what the
collectors, the pricing refresh and the Spot poller read (listed below as data, each with where it
is used) and what every registered executor action declares (`executor.registry.all_actions()`).
tests/executor/test_permissions.py runs the collectors and the actions against the sandbox with
recording clients and checks every call they make is covered, so the output is truly sufficient.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from executor.base import Action, K8sRule
from executor.registry import all_actions

# (IAM action, where it is used). Read-only, all on Resource "*": Describe/List calls do not
# support resource-level permissions.
IAM_READS: tuple[tuple[str, str], ...] = (
    ("sts:GetCallerIdentity", "app.collectors.aws: the account id (AWS allows it to everyone; listed to be explicit)"),
    ("ec2:DescribeInstances", "app.collectors.aws: instances, their types, tags and states"),
    ("ec2:DescribeVolumes", "app.collectors.aws: EBS volumes and their attachments"),
    ("cloudtrail:LookupEvents", "app.collectors.aws_cloudtrail: the last DetachVolume of unattached EBS volumes"),
    ("cloudwatch:GetMetricData", "app.collectors.aws_metrics: CPU and network history of running instances"),
    ("elasticloadbalancing:DescribeTargetGroups", "app.collectors.aws: target groups instances are registered in"),
    ("elasticloadbalancing:DescribeTargetHealth", "app.collectors.aws: the instances registered in each target group"),
    ("events:ListRules", "app.collectors.aws: the EventBridge rules that forward Spot interruption warnings"),
    ("events:ListTargetsByRule", "app.collectors.aws: the SQS queue those rules target"),
    ("sqs:GetQueueUrl", "app.collectors.aws: the URL of that queue"),
    ("sqs:ReceiveMessage", "background (the Spot interruption poller): read warnings from the queue"),
    ("sqs:DeleteMessage", "background (the Spot interruption poller): remove a handled warning"),
    ("sqs:ChangeMessageVisibility", "background (the Spot interruption poller): hand back a batch received while stopping"),
    ("pricing:GetProducts", "app.pricing.refresh (`cloudoptim data refresh`): on-demand and EBS prices"),
)
# (rule, where it is used): app.collectors.k8s lists each of these, cluster-wide, with limit/continue.
K8S_READS: tuple[tuple[K8sRule, str], ...] = (
    (K8sRule("", ("nodes", "pods"), ("list",)), "app.collectors.k8s: the cluster state every engine reads"),
    (K8sRule("", ("namespaces",), ("list",)), "app.collectors.k8s_workloads: namespace labels and opt-outs"),
    (K8sRule("", ("namespaces",), ("get",)), "executor.opt_out: a namespace's opt-out, read again before an apply"),
    (K8sRule("", ("persistentvolumeclaims", "persistentvolumes"), ("list",)),
     "app.collectors.k8s: volume zones that pin pods"),
    (K8sRule("", ("events",), ("list",)), "app.collectors.k8s_workloads: OOM-kill events"),
    (K8sRule("", ("services",), ("list",)), "app.collectors.k8s: Services the cross-AZ engine routes traffic to"),
    (K8sRule("apps", ("deployments", "statefulsets", "daemonsets", "replicasets"), ("list",)),
     "app.collectors.k8s_workloads: workloads and pod owners"),
    (K8sRule("batch", ("jobs",), ("list",)), "app.collectors.k8s: Job owners of pods"),
    (K8sRule("policy", ("poddisruptionbudgets",), ("list",)), "app.collectors.k8s_workloads: disruption budgets"),
    (K8sRule("autoscaling", ("horizontalpodautoscalers",), ("list",)),
     "app.collectors.k8s_workloads: autoscalers (v2, then v1)"),
)
# (rule, where it is used): the worker's office-hours enforcer and the lease service, beyond what
# the schedule-scale action itself declares; granted unless read-only (they change workloads).
K8S_SCHEDULES: tuple[tuple[K8sRule, str], ...] = (
    (K8sRule("apps", ("deployments", "statefulsets"), ("list", "patch")),
     "app.services.schedules: scheduled workloads, their bookkeeping annotations and wake-up leases"),
    (K8sRule("apps", ("deployments/scale", "statefulsets/scale"), ("patch",)),
     "app.services.schedules: scale down and wake up at the schedule's minutes"),
    (K8sRule("batch", ("cronjobs",), ("list", "patch")), "app.services.schedules: suspend CronJobs off-hours"),
    (K8sRule("autoscaling", ("horizontalpodautoscalers",), ("list", "patch")),
     "app.services.schedules: lower an HPA's minReplicas off-hours and restore it"),
)
PASS_ROLE = "iam:PassRole"
POLICY_VERSION = "2012-10-17"
RBAC_VERSION = "rbac.authorization.k8s.io/v1"


def _actions(actions: Mapping[str, Action[Any]] | None) -> list[Action[Any]]:
    return list((all_actions() if actions is None else actions).values())


def iam_policy(actions: Mapping[str, Action[Any]] | None = None, *, read_only: bool = False) -> dict[str, Any]:
    """The IAM policy document: one statement for reads, one for actions, one for PassRole."""
    reads = sorted({name for name, _where in IAM_READS})
    statements: list[dict[str, Any]] = [{"Sid": "CloudOptimRead", "Effect": "Allow", "Action": reads,
                                         "Resource": "*"}]
    declared = set() if read_only else {p for a in _actions(actions) for p in a.permissions.iam}
    writes = sorted(declared - set(reads) - {PASS_ROLE})
    if writes:
        statements.append({"Sid": "CloudOptimActions", "Effect": "Allow", "Action": writes, "Resource": "*"})
    if PASS_ROLE in declared:
        # A replacement node gets the old node's instance profile; PassRole only towards EC2,
        # never to another service (narrow Resource to your node role ARNs if you can).
        statements.append({"Sid": "CloudOptimPassNodeRole", "Effect": "Allow", "Action": [PASS_ROLE],
                           "Resource": "*", "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}})
    return {"Version": POLICY_VERSION, "Statement": statements}


def k8s_grants(rules: Iterable[K8sRule]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs, merged over any number of rules."""
    grants: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule in rules:
        for resource in rule.resources:
            grants[(rule.api_group, resource)].update(rule.verbs)
    return dict(grants)


def all_k8s_rules(actions: Mapping[str, Action[Any]] | None = None, *, read_only: bool = False) -> list[K8sRule]:
    rules = [rule for rule, _where in K8S_READS]
    if not read_only:
        rules += [rule for rule, _where in K8S_SCHEDULES]
        rules += [rule for a in _actions(actions) for rule in a.permissions.k8s]
    return rules


def cluster_role(actions: Mapping[str, Action[Any]] | None = None, *, name: str = "cloudoptim",
                 read_only: bool = False) -> dict[str, Any]:
    """A ClusterRole: resources of one apiGroup with the same verbs share a rule; all sorted."""
    by_verbs: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), verbs in k8s_grants(all_k8s_rules(actions, read_only=read_only)).items():
        by_verbs[(group, tuple(sorted(verbs)))].append(resource)
    rules = [{"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}
             for (group, verbs), resources in by_verbs.items()]
    rules.sort(key=lambda r: (r["apiGroups"][0], r["resources"], r["verbs"]))
    return {"apiVersion": RBAC_VERSION, "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "cloudoptim"}}, "rules": rules}


def iam_json(actions: Mapping[str, Action[Any]] | None = None, *, read_only: bool = False) -> str:
    return json.dumps(iam_policy(actions, read_only=read_only), indent=2) + "\n"


def rbac_yaml(actions: Mapping[str, Action[Any]] | None = None, *, read_only: bool = False) -> str:
    header = ("# Generated by `cloudoptim permissions --format rbac`: what CloudOptim reads"
              + ("" if read_only else " and what its actions change") + ".\n"
              "# Bind it (ClusterRoleBinding) to the identity of the kubeconfig context CloudOptim uses.\n")
    return header + yaml.safe_dump(cluster_role(actions, read_only=read_only), sort_keys=False)


def iam_allows(policy: Mapping[str, Any], action: str) -> bool:
    """Whether an Allow statement of `policy` names `action` (exactly or as `service:*`)."""
    service = action.split(":", 1)[0]
    for statement in policy.get("Statement", []):
        names = statement.get("Action", [])
        names = [names] if isinstance(names, str) else names
        if statement.get("Effect") == "Allow" and (action in names or f"{service}:*" in names or "*" in names):
            return True
    return False


def rbac_allows(role: Mapping[str, Any], api_group: str, resource: str, verb: str) -> bool:
    for rule in role.get("rules", []):
        if ((api_group in rule["apiGroups"] or "*" in rule["apiGroups"])
                and (resource in rule["resources"] or "*" in rule["resources"])
                and (verb in rule["verbs"] or "*" in rule["verbs"])):
            return True
    return False
