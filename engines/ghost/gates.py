"""Instances the ghost probe never proposes to stop or terminate, each refusal as a sentence.

Called first by `engine.GhostProbeEngine` for every instance: a node of a connected cluster, a
member of an Auto Scaling group or a Karpenter-managed instance has an owner that replaces it
(stopping it fights that owner), an opted-out one was kept on purpose, and only running and
stopped instances have a state the stop-before-terminate ladder can act on.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from engines.ghost.settings import GhostProbeSettings
from engines.snapshot_aws import Instance

ASG_TAG = "aws:autoscaling:groupName"
KARPENTER_TAGS = ("karpenter.sh/nodepool", "karpenter.sh/provisioner-name", "karpenter.k8s.aws/ec2nodeclass")
ACTIONABLE_STATES = ("running", "stopped")


def _opt_out(instance: Instance, keys: list[str]) -> str | None:
    for key in keys:
        value = instance.tags.get(key)
        if value is not None and value.strip().lower() != "false":
            return key
    return None


def refusal(instance: Instance, cluster_nodes: Collection[str], settings: GhostProbeSettings) -> str | None:
    """Why this instance is out of scope, or None when the probe may judge it."""
    iid = instance.instance_id
    if iid in cluster_nodes:
        return f"{iid} is a node of a connected cluster (its providerID matches); node engines handle it"
    if instance.cluster:
        return f"{iid} is a node of cluster {instance.cluster} (from its tags); node engines handle it"
    group = instance.tags.get(ASG_TAG)
    if group:
        return (
            f"{iid} belongs to Auto Scaling group {group}; the group would replace a stopped or terminated "
            "instance, so change the group's capacity instead"
        )
    karpenter = [key for key in KARPENTER_TAGS if instance.tags.get(key)]
    if karpenter:
        return f"{iid} is managed by Karpenter (tag {karpenter[0]}={instance.tags[karpenter[0]]}); Karpenter owns it"
    key = _opt_out(instance, settings.opt_out_tag_keys)
    if key is not None:
        return f"{iid} is opted out with tag {key}={instance.tags[key]}"
    if instance.lifecycle == "spot":
        return (
            f"{iid} is a Spot instance: a one-time Spot instance cannot be stopped, and Spot capacity is "
            "the Spot engine's domain"
        )
    if instance.state not in ACTIONABLE_STATES:
        return f"{iid} is {instance.state}; only running (stop) and stopped (terminate) instances are judged"
    return None


def passed(instance: Instance) -> dict[str, Any]:
    """The gates an instance went through, for the evidence (all of them passed, or it was skipped)."""
    return {
        "node_of_connected_cluster": False,
        "cluster_tag": None,
        "auto_scaling_group": None,
        "karpenter_managed": False,
        "opted_out": False,
        "state": instance.state,
    }


def _tag(tags: dict[str, str], keys: list[str]) -> tuple[str, str] | None:
    wanted = {k.lower() for k in keys}
    for key in sorted(tags):
        if key.lower() in wanted and tags[key].strip():
            return key, tags[key]
    return None


def owner_tag(instance: Instance, settings: GhostProbeSettings) -> tuple[str, str] | None:
    return _tag(instance.tags, settings.owner_tag_keys)


def environment_tag(instance: Instance, settings: GhostProbeSettings) -> tuple[str, str] | None:
    return _tag(instance.tags, settings.environment_tag_keys)
