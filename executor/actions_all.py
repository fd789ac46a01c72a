"""Imports every action module so each registers itself in `executor.registry.REGISTRY`."""

from executor import (  # noqa: F401
    aws_actions,
    ebs_actions,
    k8s_affinity_actions,
    k8s_service_actions,
    k8s_workload_actions,
    node_actions,
    node_replace,
)
