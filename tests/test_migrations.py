"""Schema migrations on SQLite and PostgreSQL: upgrade to head, models match, reruns and races."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, select

from app.db import make_engine, upgrade
from app.db.migrate import current_revision, head_revision
from app.db.models import Cluster
from app.db.tables_recs import Recommendation
from tests.waiting import wait_until

EXPECTED_TABLES = {
    "clusters", "nodes", "pod_events", "spot_warnings", "recommendations", "executions",
    "cost_savings", "users", "engine_modules", "models", "scan_runs", "audit_events",
    "engine_settings", "snapshots",
}  # fmt: skip


def test_the_head_revision_constant_is_alembics_head() -> None:
    from app.db.migrate import HEAD_REVISION

    assert head_revision() == HEAD_REVISION, "bump app.db.migrate.HEAD_REVISION with every new migration"


def test_opening_a_current_database_does_not_import_alembic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'current.db'}"
    upgrade(make_engine(url))
    code = ("import sys; from app.db import make_engine, upgrade; print(upgrade(make_engine(sys.argv[1]))); "
            "print('alembic' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True).stdout.split()
    assert out == [head_revision(), "False"]


def test_an_empty_database_upgrades_to_head_with_every_table(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES


def test_the_models_match_the_migrated_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_recommendation_filters_have_indexes(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("recommendations")}
    assert {("cluster_id",), ("engine",), ("status",), ("created_at",)} <= indexed


def test_running_the_migration_twice_changes_nothing_and_keeps_data(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as s:
        s.add(Cluster(name="keep-me", region="us-east-1", monthly_cost=Decimal("1234.56")))
        s.commit()
    assert upgrade(engine) == head_revision()
    with Session(engine) as s:
        row = s.exec(select(Cluster)).one()
    assert (row.name, row.monthly_cost) == ("keep-me", Decimal("1234.56"))
    assert row.created_at.tzinfo is not None


def test_money_round_trips_as_exact_decimal(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as s:
        s.add(
            Recommendation(
                fingerprint="f1",
                engine="binpack",
                target="node/a",
                action_kind="drain-and-remove-node",
                current_monthly_cost=Decimal("70.08"),
                projected_monthly_cost=Decimal("0.00"),
                monthly_savings=Decimal("70.08"),
            )
        )
        s.commit()
        assert s.exec(select(Recommendation)).one().monthly_savings == Decimal("70.08")


def test_naive_timestamps_are_refused(db_url: str) -> None:
    from datetime import datetime

    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as s, pytest.raises(Exception, match="naive datetime"):
        s.add(Cluster(name="x", region="us-east-1", created_at=datetime(2026, 1, 1)))
        s.commit()


def test_two_processes_starting_at_once_on_one_sqlite_file_both_succeed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = "import sys; from app.db import make_engine, upgrade; print(upgrade(make_engine(sys.argv[1])))"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs == [head_revision(), head_revision()]


# Each process imports first, says it is ready, and waits for the go file: the imports take
# seconds, so without this the processes would rarely reach the database at the same moment.
_STARTER = """
import sys, time
from pathlib import Path
from app.db import make_engine, upgrade
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.001)
print(upgrade(make_engine(url)))
"""


@pytest.mark.slow
def test_four_processes_starting_at_once_ten_times_over_all_reach_the_head_revision(tmp_path: Path) -> None:
    failures: list[str] = []
    for round_no in range(10):
        folder = tmp_path / f"round{round_no}"
        folder.mkdir()
        go = folder / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _STARTER, f"sqlite:///{folder / 'race.db'}", str(folder / f"ready{i}"), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(4)
        ]
        wait_until(lambda f=folder: len(list(f.glob("ready*"))) == 4, timeout=120)
        go.touch()
        for p in procs:
            out, err = p.communicate(timeout=120)
            if p.returncode != 0 or out.strip() != head_revision():
                failures.append(f"round {round_no}: exit {p.returncode}, {out.strip()!r}, {err.strip()[-300:]}")
    assert failures == []
