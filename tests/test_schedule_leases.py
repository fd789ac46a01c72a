"""The wake-up lease service against the local Kubernetes API, on SQLite and PostgreSQL: a lease
granted at night wakes the workload through the enforcer, its end scales it down again, ending it
early works, bad leases are refused with the reason, every grant is audited, and the listing shows
each scheduled workload with its state, next change and lease."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import kubernetes.client
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.tables_recs import AuditEvent
from app.services.schedule_leases import LeaseError, end_lease, grant_lease, list_scheduled
from app.settings import Settings
from background.schedule_enforcer import enforce_schedules
from engines import schedules
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import workload
from tests.test_executions_seed import add_cluster

BERLIN = ZoneInfo("Europe/Berlin")
UPTIME = {schedules.UPTIME: "Mon-Fri 07:30-20:30", schedules.TIMEZONE: "Europe/Berlin"}
NIGHT = datetime(2026, 6, 8, 19, 0, tzinfo=UTC)  # Monday 21:00 CEST
UNTIL = datetime(2026, 6, 8, 22, 0, tzinfo=BERLIN)  # "keep staging up until 22:00 today"


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as cluster:
        cluster.put_many([workload("Deployment", "web", 3, namespace="staging", annotations=UPTIME),
                          workload("Deployment", "plain", 2, namespace="staging")])  # fmt: skip
        yield cluster


@pytest.fixture
def registered(engine: Engine, k8s: LocalKubernetes, tmp_path: Path) -> None:
    add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", context="prod")))


def live(k8s: LocalKubernetes) -> tuple[int, dict[str, str]]:
    apps = kubernetes.client.AppsV1Api(k8s.api_client())
    read: Any = apps.read_namespaced_deployment
    obj: dict[str, Any] = json.loads(read("web", "staging", _preload_content=False).data)
    return int(obj["spec"]["replicas"]), obj["metadata"].get("annotations") or {}


def test_a_lease_wakes_the_workload_keeps_it_up_and_its_end_scales_it_down_again(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    assert enforce_schedules(settings, engine, now=lambda: NIGHT) == 1
    assert live(k8s)[0] == 0

    message = grant_lease(settings, engine, "prod", "staging", "Deployment", "web", UNTIL, "ana", now=NIGHT)
    assert message == "Deployment staging/web in cluster prod stays up until Mon 2026-06-08 22:00 CEST."
    assert live(k8s)[1][schedules.LEASE_UNTIL] == "2026-06-08T20:00:00+00:00"
    assert enforce_schedules(settings, engine, now=lambda: NIGHT + timedelta(minutes=1)) == 1
    assert live(k8s)[0] == 3  # woken to exactly the replicas it had
    assert enforce_schedules(settings, engine, now=lambda: NIGHT + timedelta(minutes=50)) == 0

    assert enforce_schedules(settings, engine, now=lambda: UNTIL.astimezone(UTC)) == 1
    replicas, annotations = live(k8s)
    assert replicas == 0 and schedules.LEASE_UNTIL not in annotations  # the enforcer removed the expired lease
    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("schedule", "schedule scale-down", "deployment staging/web"),
        ("ana", "schedule lease granted", "deployment staging/web"),
        ("schedule", "schedule scale-up", "deployment staging/web"),
        ("schedule", "schedule scale-down", "deployment staging/web")]  # fmt: skip
    assert rows[1].details == {"cluster": "prod", "lease_until": "2026-06-08T20:00:00+00:00", "previous": None}


def test_ending_a_lease_early_lets_the_next_minute_scale_the_workload_down(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    enforce_schedules(settings, engine, now=lambda: NIGHT)
    grant_lease(settings, engine, "prod", "staging", "Deployment", "web", UNTIL, "ana", now=NIGHT)
    enforce_schedules(settings, engine, now=lambda: NIGHT + timedelta(minutes=1))
    assert live(k8s)[0] == 3
    end = NIGHT + timedelta(minutes=10)
    assert end_lease(settings, engine, "prod", "staging", "Deployment", "web", "bob", now=end).startswith("Lease of")
    assert enforce_schedules(settings, engine, now=lambda: end + timedelta(minutes=1)) == 1
    assert live(k8s)[0] == 0
    with pytest.raises(LeaseError, match="has no lease to end"):
        end_lease(settings, engine, "prod", "staging", "Deployment", "web", "bob", now=end + timedelta(minutes=2))


@pytest.mark.parametrize(("cluster", "name", "until", "message"), [
    ("prod", "web", NIGHT - timedelta(minutes=1), "lease end 2026-06-08T18:59:00+00:00 is not in the future"),
    ("prod", "web", NIGHT + timedelta(days=8), "lease end 2026-06-16T19:00:00+00:00 is more than 7 days ahead"),
    ("prod", "web", datetime(2026, 6, 8, 22, 0), "lease end 2026-06-08T22:00:00 has no timezone"),
    ("prod", "plain", UNTIL, "Deployment staging/plain in cluster prod has no schedule"),
    ("prod", "gone", UNTIL, "Deployment staging/gone in cluster prod has no schedule (or is gone)"),
    ("test", "web", UNTIL, "cluster 'test' is not registered"),
])  # fmt: skip
def test_a_lease_in_the_past_too_far_ahead_or_on_something_unscheduled_is_refused_and_nothing_is_written(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes, cluster: str, name: str,
    until: datetime, message: str,
) -> None:  # fmt: skip
    with pytest.raises(LeaseError) as caught:
        grant_lease(settings, engine, cluster, "staging", "Deployment", name, until, "ana", now=NIGHT)
    assert str(caught.value).startswith(message)
    assert schedules.LEASE_UNTIL not in live(k8s)[1]
    with Session(engine) as session:
        assert session.exec(select(AuditEvent)).all() == []


def test_the_listing_shows_each_scheduled_workload_its_state_next_change_and_lease_and_names_a_dead_cluster(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes, tmp_path: Path
) -> None:
    add_cluster(engine, "gone", kubeconfig=str(tmp_path / "missing"), context="gone")
    enforce_schedules(settings, engine, now=lambda: NIGHT)
    (row,) = list_scheduled(settings, engine, now=NIGHT).workloads
    assert (row.cluster, row.target, row.schedule, row.timezone, row.state, row.wants_up, row.replicas) == (
        "prod",
        "deployment staging/web",
        "Mon-Fri 07:30-20:30",
        "Europe/Berlin",
        "down",
        False,
        0,
    )
    assert row.next_change == datetime(2026, 6, 9, 5, 30, tzinfo=UTC) and row.lease_until is None

    grant_lease(settings, engine, "prod", "staging", "Deployment", "web", UNTIL, "ana", now=NIGHT)
    listing = list_scheduled(settings, engine, now=NIGHT)
    (leased,) = listing.workloads
    assert (leased.wants_up, leased.lease_until, leased.next_change) == (True, UNTIL, UNTIL)
    assert listing.failed_clusters["gone"].startswith("cluster gone: kubeconfig")
