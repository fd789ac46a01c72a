"""Golden files: the OOMKilled remediation engine's whole JSON output on two small clusters, compared exactly.

Every field is pinned (action, prices, risk, confidence, purpose, rationale, evidence with the
per-day peaks, kill times, class and formula, fingerprint, then the skipped entries), so any change
an analyst would read shows up as a readable diff. The scan time is fixed and prices come from the
shipped price book. After an intended change, regenerate and review the diff:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_oom_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta

import pytest

from engines.contract import ScanResult
from engines.snapshot import KubeEvent, TerminationRecord
from engines.snapshot_aws import Snapshot
from tests.engines.test_oom_helpers import NOW, POINTS, growth, node, owner, scan, snapshot, spike, steady, usage
from tests.golden_files import check_golden


def estate() -> Snapshot:
    """A shop on two nodes: steady peaks at the limit (web, with two earlier kills in the history and
    a kernel event), a spike (cart), a leak (sessions), a crash loop with no usage (checkout), a
    node-pressure eviction (search), a StatefulSet with one kill and no usage (db) and a DaemonSet."""
    n1, n2 = node("ip-10-0-1-10"), node("ip-10-0-2-20", itype="r5.large", mem_gib=16, cpu=2)
    web, web_pods = owner("web", limit_mib=512, request_mib=256, replicas=3)
    cart, cart_pods = owner("cart", limit_mib=1024, request_mib=512, on=n2.name)
    sessions, sessions_pods = owner("sessions", limit_mib=256, request_mib=128, replicas=1)
    checkout, checkout_pods = owner("checkout", limit_mib=128, request_mib=64, restarts=31,
                                    last_oom=NOW - timedelta(minutes=4))
    search, search_pods = owner("search", oom=False, replicas=1, on=n2.name)
    db, db_pods = owner("db", kind="StatefulSet", limit_mib=2048, request_mib=2048, replicas=1, restarts=1)
    agent, agent_pods = owner("agent", kind="DaemonSet", ns="kube-system", container="agent", limit_mib=200,
                              request_mib=None, replicas=1)
    series = (*(usage(p, steady(512)) for p in web_pods), *(usage(p, spike(1024)) for p in cart_pods),
              *(usage(p, growth(256)) for p in sessions_pods), *(usage(p, steady(200), "agent") for p in agent_pods))
    history = tuple(TerminationRecord(namespace="shop", pod=web_pods[1].name, container="app", reason="OOMKilled",
                                      exit_code=137, restart_count=r, occurred_at=NOW - timedelta(days=d))
                    for r, d in ((1, 9), (2, 4)))
    events = (KubeEvent(namespace="shop", involved_kind="Pod", involved_name=web_pods[0].name, reason="OOMKilling",
                        message="Memory cgroup out of memory: Killed process 4211 (node)", count=1,
                        last_seen=NOW - timedelta(hours=2)),
              KubeEvent(namespace="shop", involved_kind="Pod", involved_name=search_pods[0].name, reason="Evicted",
                        message="The node was low on resource: memory. Container search was using 1.9Gi.",
                        last_seen=NOW - timedelta(hours=6)))  # fmt: skip
    pods = [*web_pods, *cart_pods, *sessions_pods, *checkout_pods, *search_pods, *db_pods, *agent_pods]
    workloads = [web, cart, sessions, checkout, search, db, agent]
    return snapshot(pods, workloads, series=series, nodes=[n1, n2], events=events, terminations=history)


def bad_input() -> Snapshot:
    """NaN usage, no limit, a bare pod, an unpriced node, an absurd limit, and an unknown history pod."""
    nan, nan_pods = owner("nan-usage")
    nolimit, nolimit_pods = owner("no-limit", limit_mib=None)
    unpriced, unpriced_pods = owner("unpriced", on="ip-10-9-9-9")
    absurd, absurd_pods = owner("absurd")
    absurd = absurd.model_copy(update={"containers": (absurd.containers[0].model_copy(update={"memory_limit": 2**60}),)})
    bare = nan_pods[0].model_copy(update={"name": "debug-shell", "owner_kind": None, "owner_name": None})
    ghost = TerminationRecord(namespace="shop", pod="ghost-1", container="app", reason="OOMKilled",
                              occurred_at=NOW - timedelta(days=1))
    pods = [*nan_pods, *nolimit_pods, *unpriced_pods, *absurd_pods, bare]
    return snapshot(pods, [nan, nolimit, unpriced, absurd], series=tuple(usage(p, [math.nan] * POINTS) for p in nan_pods),
                    nodes=[node(), node("ip-10-9-9-9", itype="x9z.huge")], terminations=(ghost,))


SNAPSHOTS: dict[str, Callable[[], Snapshot]] = {"oom-remediation-estate": estate, "oom-remediation-bad-input": bad_input}


def canonical(result: ScanResult) -> str:
    """Sorted keys, two-space indent, one trailing newline: stable text for exact comparison."""
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    check_golden(name, canonical(scan(SNAPSHOTS[name]())), what="engine output", test_file="tests/engines/test_oom_golden.py")


def test_the_estate_covers_every_class_and_every_raise_is_a_reliability_cost() -> None:
    result = scan(estate())
    classes = {r.target.split("/")[3]: r.evidence["triage"]["class"] for r in result.recommendations}
    assert classes == {"web": "limit-too-low", "cart": "spike", "checkout": "crash-loop", "db": "no-usage",
                       "agent": "limit-too-low"}
    assert all(r.purpose == "reliability" and r.monthly_savings < 0 for r in result.recommendations)
    skipped = {s.target.split("/")[3]: s.reason for s in result.skipped}
    assert set(skipped) == {"sessions", "search"}
    assert "leak" in skipped["sessions"] and "node memory pressure" in skipped["search"]
    assert canonical(result) == canonical(scan(estate()))


def test_bad_input_gives_only_skips_with_reasons() -> None:
    result = scan(bad_input())
    assert result.recommendations == []
    assert len(result.skipped) == 6 and all(s.reason for s in result.skipped)
