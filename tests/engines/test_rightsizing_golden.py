"""Golden files: the rightsizing engine's full JSON output on two small estates, compared exactly.

Every field is pinned (action, prices, risk, confidence, rationale, evidence with the risk curve
and the node-level saving, fingerprint, then the skipped entries), so any change in what an
analyst reads shows up as a readable diff. After an intended change, regenerate and review:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_rightsizing_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from engines.contract import ScanResult
from engines.rightsizing import RightsizingEngine
from engines.snapshot import Autoscaler
from engines.snapshot_aws import Snapshot
from tests.engines.test_rightsizing_helpers import (
    DAY,
    MIB,
    container,
    daily,
    node,
    pod,
    run,
    series,
    snapshot,
    steady,
    usage,
    workload,
)
from tests.golden_files import check_golden


def estate() -> Snapshot:
    """Three nodes; an over-requested Deployment with a CPU limit, an under-requested StatefulSet, a
    DaemonSet on every node, a Deployment whose HPA scales on CPU, one with two days of history, one
    with an annotation override, and one whose sidecar reports only garbage."""
    nodes = [node("node-a"), node("node-b", zone="us-east-1b"), node("node-c", "m5.2xlarge", "us-east-1c")]
    web_c, web_m = steady(0.3, 800)
    db_c, db_m = steady(0.5, 3500)
    agent_c, agent_m = steady(0.02, 120)
    api_c, api_m = steady(0.4, 900)
    new_c, new_m = steady(0.1, 300, days=2)
    batch_c, batch_m = steady(0.6, 1500)
    cart_c, cart_m = steady(0.15, 400)
    garbage = tuple(math.nan if i % 2 else -1.0 for i in range(14 * DAY))
    web = container(cpu=1.0, cpu_limit=2.0, mem_mib=2048, mem_limit_mib=2048)
    pods = [
        pod("web-1", "web", web), pod("web-2", "web", web, node_name="node-b"),
        pod("db-0", "db", container(cpu=0.5, mem_mib=2048, mem_limit_mib=3072), kind="StatefulSet", node_name="node-c"),
        *(pod(f"agent-{n}", "agent", container(cpu=0.1, mem_mib=256), kind="DaemonSet", namespace="kube-system",
              node_name=n) for n in ("node-a", "node-b", "node-c")),
        pod("api-1", "api", container(cpu=2.0, mem_mib=4096), node_name="node-c"),
        pod("new-1", "new", container(cpu=0.5, mem_mib=1024)),
        pod("batch-1", "batch", container(cpu=2.0, mem_mib=4096), node_name="node-c"),
        pod("cart-1", "cart", container(cpu=0.5, mem_mib=1024), container("proxy", cpu=0.2, mem_mib=512), node_name="node-b"),
    ]
    use = [
        usage("web-1", web_c, web_m), usage("web-2", web_c, web_m), usage("db-0", db_c, db_m),
        *(usage(f"agent-{n}", agent_c, agent_m, namespace="kube-system") for n in ("node-a", "node-b", "node-c")),
        usage("api-1", api_c, api_m), usage("new-1", new_c, new_m), usage("batch-1", batch_c, batch_m),
        usage("cart-1", cart_c, cart_m), usage("cart-1", garbage, garbage, container_name="proxy"),
    ]
    hpa = Autoscaler(name="api", namespace="shop", target_kind="Deployment", target_name="api", min_replicas=1,
                     max_replicas=5, resources=("cpu",))
    batch = workload("batch", container(cpu=2.0, mem_mib=4096),
                     annotations={"cloudoptim.io/rightsizing-cpu-percentile": "99",
                                  "cloudoptim.io/rightsizing-memory-buffer": "0.25"})
    return snapshot(pods, use, workloads=[batch], hpas=[hpa], nodes=nodes)


def bad_input() -> Snapshot:
    """Gappy, negative-only, empty and missing histories, a Job pod, a bad annotation, an opt-out,
    and one healthy Deployment so the node-level figure is still computed."""
    good_c, good_m = steady(0.2, 500)
    gappy = series(lambda i: 0.2 if i % 4 == 0 else None, 10)
    gappy_m = series(lambda i: 500.0 * MIB if i % 4 == 0 else None, 10)
    negative = series(lambda i: -0.1, 10)
    pods = [
        pod("good-1", "good"), pod("gappy-1", "gappy"), pod("neg-1", "neg"), pod("none-1", "none"),
        pod("empty-1", "empty"), pod("job-1", "report", kind="Job"), pod("legacy-1", "legacy"),
        pod("opted-1", "opted"), pod("bare", "", kind=""),
    ]
    use = [
        usage("good-1", good_c, good_m), usage("gappy-1", gappy, gappy_m), usage("neg-1", negative, negative),
        usage("empty-1", (), ()), usage("job-1", good_c, good_m), usage("legacy-1", good_c, good_m),
        usage("opted-1", good_c, good_m),
        usage("late-1", series(daily(0.2, 0.02), 5), series(daily(500.0 * MIB, 10.0 * MIB), 5)),  # no such pod
    ]
    workloads = [workload("legacy", annotations={"cloudoptim.io/rightsizing-memory-buffer": "lots"}),
                 workload("opted", annotations={"cloudoptim.io/rightsizing": "off"})]
    return snapshot(pods, use, workloads=workloads)


SNAPSHOTS: dict[str, Callable[[], Snapshot]] = {"rightsizing-estate": estate, "rightsizing-bad-input": bad_input}


def canonical(result: ScanResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    check_golden(name, canonical(run(SNAPSHOTS[name]())), what="engine output",
                 test_file="tests/engines/test_rightsizing_golden.py")


def test_the_estate_golden_covers_every_kind_of_outcome() -> None:
    result = run(estate())
    purposes = {r.target.split("/")[3]: r.purpose for r in result.recommendations}
    assert purposes["db"] == "reliability" and purposes["web"] == "saving"
    assert {"web", "db", "agent", "api", "batch", "cart"} <= set(purposes)
    reasons = " | ".join(s.reason for s in result.skipped)
    assert "hours of usage history" in reasons and "every usage sample is missing" in reasons
    api = next(r for r in result.recommendations if "/api/" in r.target)
    assert api.evidence["risk_curve"]["cpu"]["held"] is True


def test_the_bad_input_golden_skips_every_bad_history_with_its_reason() -> None:
    result = run(bad_input())
    assert [r.target.split("/")[3] for r in result.recommendations] == ["good"]
    reasons = {s.target.split("/")[3] if s.target.startswith("workload/") else s.target: s.reason for s in result.skipped}
    assert "gappy" in reasons["gappy"] and "negative" in reasons["neg"]
    assert "no usage history" in reasons["none"] and "no usage history" not in reasons["empty"]
    assert "'lots'" in reasons["legacy"] and "opted out" in reasons["opted"]
    assert "owned by a Job" in reasons["pod/shop/job-1"]
    assert "matches no pod" in reasons["pod/shop/late-1"]


def test_the_settings_and_every_policy_field_are_described() -> None:
    settings = RightsizingEngine.Settings
    assert all((f.description or "").strip() for f in settings.model_fields.values())
    policy = settings.model_fields["default_policy"].default_factory().__class__  # type: ignore[misc,call-arg]
    assert all((f.description or "").strip() for f in policy.model_fields.values())
