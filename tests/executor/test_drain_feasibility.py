"""The drain pre-check (used by the Spot pipeline): from PDBs and grace periods, whether a drain of a
node fits a time budget, naming the pod and budget that would block it."""

from __future__ import annotations

import math

import pytest

from executor.drain import drain_feasibility
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import Kube, node, pdb, pod
from tests.waiting import wait_until


@pytest.fixture
def kube(local_k8s: LocalKubernetes) -> Kube:
    return Kube(local_k8s)


def _budgets_computed(kube: Kube, *names: str) -> None:
    for name in names:
        wait_until(lambda name=name: kube.raw(kube.policy.read_namespaced_pod_disruption_budget, name, "default")
                   .get("status", {}).get("expectedPods"))


def test_pods_with_slack_and_short_grace_periods_fit_a_two_minute_notice(kube: Kube) -> None:
    web = {"app": "web"}
    kube.cluster.put_many([node("node-a"), node("node-b"), pdb("web", maxUnavailable=1),
                           pod("web-1", "node-a", labels=web, grace=10), pod("web-2", "node-b", labels=web),
                           pod("agent", "node-a", namespace="kube-system", owner_kind="DaemonSet")])
    _budgets_computed(kube, "web")
    check = drain_feasibility(kube.ctx(), "node-a", 120)
    assert (check.fits, check.estimated_s, check.blockers) == (True, 10, ())
    assert check.evictable == ("default/web-1",) and check.pdbs == ("default/web",)
    assert check.skipped == (("kube-system/agent", "DaemonSet pod"),)


def test_a_budget_that_allows_no_disruption_blocks_the_drain_and_is_named(kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), pdb("db", minAvailable=1), pod("db-0", "node-a", labels={"app": "db"})])
    _budgets_computed(kube, "db")
    check = drain_feasibility(kube.ctx(), "node-a", 120)
    assert check.fits is False and math.isinf(check.estimated_s)
    assert check.blockers == ("pod default/db-0: PodDisruptionBudget default/db allows 0 disruptions now",)


def test_a_grace_period_longer_than_the_budget_blocks_the_drain(kube: Kube) -> None:
    kube.cluster.put_many([node("node-a"), pod("kafka-0", "node-a", grace=300)])
    check = drain_feasibility(kube.ctx(), "node-a", 120)
    assert check.blockers == ("pod default/kafka-0: terminationGracePeriodSeconds 300 exceeds the budget of 120 s",)


def test_a_budget_of_one_disruption_for_three_pods_on_the_node_needs_three_rounds(kube: Kube) -> None:
    web = {"app": "web"}
    kube.cluster.put_many([node("node-a"), node("node-b"), pdb("web", maxUnavailable=1),
                           *(pod(f"web-{i}", "node-a", labels=web) for i in range(3)), pod("web-9", "node-b", labels=web)])
    _budgets_computed(kube, "web")
    check = drain_feasibility(kube.ctx(), "node-a", 600)
    assert check.fits is True and check.estimated_s == 30 + 2 * (30 + 30)
    assert check.notes == ("PodDisruptionBudget default/web allows 1 disruption for 3 pods on the node: "
                           "3 rounds, each waiting for replacements",)
    tight = drain_feasibility(kube.ctx(), "node-a", 120)
    assert tight.fits is False and tight.blockers == ("estimated 150 s (3 rounds) exceeds the budget of 120 s",)


def test_an_empty_node_drains_at_once(kube: Kube) -> None:
    kube.cluster.put(node("node-a"))
    check = drain_feasibility(kube.ctx(), "node-a")
    assert (check.fits, check.estimated_s, check.evictable, check.budget_s) == (True, 0, (), 110.0)
