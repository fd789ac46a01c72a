"""The Schedules page (AppTest) against the local Kubernetes API: the table of scheduled workloads,
granting a wake-up lease in the schedule's timezone, ending it, and a refused lease's reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import kubernetes.client
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.ui.schedules import default_until
from engines import schedules
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import workload
from tests.test_executions_seed import add_cluster
from tests.ui_session import sign_in_as

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "schedules.py")
ZONE = "America/New_York"
UPTIME = {schedules.UPTIME: "Mon-Fri 08:00-18:00", schedules.TIMEZONE: ZONE}


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as cluster:
        cluster.put_many([workload("Deployment", "web", 3, namespace="staging", annotations=UPTIME),
                          workload("Deployment", "plain", 2, namespace="staging")])  # fmt: skip
        yield cluster


def lease_of(k8s: LocalKubernetes) -> str | None:
    read: Any = kubernetes.client.AppsV1Api(k8s.api_client()).read_namespaced_deployment
    obj: dict[str, Any] = json.loads(read("web", "staging", _preload_content=False).data)
    value = (obj["metadata"].get("annotations") or {}).get(schedules.LEASE_UNTIL)
    return str(value) if value is not None else None


def open_page() -> AppTest:
    at = sign_in_as(AppTest.from_file(PAGE, default_timeout=60)).run()
    assert not at.exception
    return at


def test_without_a_scheduled_workload_the_page_says_how_to_schedule_one(engine: Engine) -> None:
    assert "cloudoptim.io/schedule-uptime" in open_page().info[0].value


def test_the_table_lists_the_scheduled_workload_and_a_lease_is_granted_in_its_timezone_and_ended(
    engine: Engine, k8s: LocalKubernetes, tmp_path: Path
) -> None:
    add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", context="prod")))
    at = open_page()
    table = at.dataframe[0].value
    assert table["Workload"].tolist() == ["deployment staging/web"]
    assert (table["Schedule"][0], table["Timezone"][0], table["State"][0]) == ("Mon-Fri 08:00-18:00", ZONE, "up")

    tomorrow = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)
    at.date_input(key="lease_day_0").set_value(tomorrow).run()
    at.time_input(key="lease_time_0").set_value(time(21, 30)).run()
    at.button(key="lease_grant").click().run()
    assert not at.exception and "stays up until" in at.success[0].value
    want = datetime.combine(tomorrow, time(21, 30), tzinfo=ZoneInfo(ZONE)).astimezone(UTC).isoformat()
    assert lease_of(k8s) == want
    assert at.dataframe[0].value["Lease until"][0].startswith(tomorrow.strftime("%a %Y-%m-%d 21:30"))

    at.button(key="lease_end").click().run()
    assert "ended" in at.success[0].value
    ended = lease_of(k8s)
    assert ended is not None and datetime.fromisoformat(ended) <= datetime.now(UTC)  # the enforcer ends it next


def test_a_lease_in_the_past_is_refused_with_the_reason_and_nothing_is_written(
    engine: Engine, k8s: LocalKubernetes, tmp_path: Path
) -> None:
    add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", context="prod")))
    at = open_page()
    at.date_input(key="lease_day_0").set_value(date(2020, 1, 1)).run()
    at.button(key="lease_grant").click().run()
    assert "is not in the future" in at.error[0].value and lease_of(k8s) is None


def test_the_default_lease_end_is_today_22_00_in_the_schedule_timezone_or_tomorrow_once_past() -> None:
    afternoon = datetime(2026, 6, 8, 18, 0, tzinfo=UTC)  # 14:00 in New York
    assert default_until(ZONE, afternoon) == (date(2026, 6, 8), time(22, 0))
    late = datetime(2026, 6, 9, 3, 0, tzinfo=UTC)  # 23:00 in New York on the 8th
    assert default_until(ZONE, late) == (date(2026, 6, 9), time(22, 0))
