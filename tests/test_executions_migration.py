"""Migration 0005 on SQLite and PostgreSQL: executions written at 0004 learn their fingerprint and
target, duplicates of an active execution are closed, Spot statuses are mapped, the new CHECKs
list exactly the enum members, and the downgrade keeps every row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import make_engine, upgrade
from app.db.migrate import downgrade, head_revision
from app.db.models import QuarantinedMessage, SpotWarning
from app.db.states import ExecutionKind
from app.db.tables_recs import Execution
from tests.test_db_migration_0004 import filled


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def seed_0004(engine: Engine) -> None:
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:

        def put(name: str, /, **values: Any) -> None:
            conn.execute(t[name].insert(), [filled(t[name], **values)])

        put("clusters", id=1, name="prod", region="us-east-1")
        put("recommendations", id=1, fingerprint="fp1", cluster_id=1, target="node/a", status="approved")
        put("recommendations", id=2, fingerprint="fp2", cluster_id=1, target="node/b", status="open")
        put("executions", id=1, recommendation_id=1, cluster_id=1, state="succeeded")
        put("executions", id=2, recommendation_id=1, cluster_id=1, state="queued")
        put("executions", id=3, recommendation_id=1, cluster_id=1, state="queued")  # a double click at 0004
        put("executions", id=4, recommendation_id=2, cluster_id=1, state="running")
        put("executions", id=5, recommendation_id=None, cluster_id=None, state="queued")
        for i, status in enumerate(("received", "processed", "exploded")):
            put("spot_warnings", event_id=f"ev-{i}", instance_id=f"i-{i}", status=status, message="m")


def test_executions_written_at_0004_get_fingerprints_and_duplicates_are_closed(db: Engine) -> None:
    upgrade(db, "0004")
    seed_0004(db)
    assert upgrade(db) == head_revision()

    with Session(db) as s:
        rows = {e.id: e for e in s.exec(select(Execution))}
    assert {i: (r.fingerprint, r.target, r.state) for i, r in rows.items()} == {
        1: ("fp1", "node/a", "succeeded"), 2: ("fp1", "node/a", "queued"), 3: ("fp1", "node/a", "failed"),
        4: ("fp2", "node/b", "running"), 5: (None, "", "queued"),
    }  # fmt: skip
    assert "duplicate" in (rows[3].reason or "") and rows[2].reason is None
    assert all(r.kind == ExecutionKind.APPLY and r.steps == [] and r.owner is None for r in rows.values())


def test_spot_warning_statuses_are_mapped_and_the_unknown_one_noted(db: Engine) -> None:
    upgrade(db, "0004")
    seed_0004(db)
    upgrade(db)
    with Session(db) as s:
        warnings = {w.event_id: w for w in s.exec(select(SpotWarning))}
    assert [warnings[f"ev-{i}"].status for i in range(3)] == ["received", "handled", "failed"]
    assert warnings["ev-2"].message == "m (status was exploded before migration 0005)"
    assert all(w.detail == {} and w.handled_in_notice is None for w in warnings.values())


def test_the_database_refuses_an_unknown_kind_and_spot_status(db: Engine) -> None:
    upgrade(db)
    for row in (Execution(action_kind="x", kind="undo"), SpotWarning(event_id="e", detail_type="d", instance_id="i",
                                                                     region="r", status="done")):  # fmt: skip
        with Session(db) as s:
            s.add(row)
            with pytest.raises(IntegrityError, match="(?i)check"):
                s.commit()


def test_quarantined_messages_keep_body_and_reason(db: Engine) -> None:
    upgrade(db)
    with Session(db) as s:
        s.add(QuarantinedMessage(queue_url="http://q", message_id="m-1", reason="not JSON", body="{" * 10_000))
        s.commit()
        kept = s.exec(select(QuarantinedMessage)).one()
    assert (kept.reason, len(kept.body), kept.received_at.tzinfo is not None) == ("not JSON", 10_000, True)


def test_0005_downgrades_to_0004_keeping_every_row_and_upgrades_again(db: Engine) -> None:
    upgrade(db, "0004")
    seed_0004(db)
    upgrade(db)
    with Session(db) as s:
        s.exec(sa.update(Execution).where(Execution.id == 5).values(state="refused"))  # type: ignore[arg-type]
        s.commit()

    assert downgrade(db, "0004") == "0004"

    inspector = sa.inspect(db)
    assert "quarantined_messages" not in inspector.get_table_names()
    assert "fingerprint" not in {c["name"] for c in inspector.get_columns("executions")}
    with db.connect() as conn:
        states: dict[int, str] = dict(conn.execute(sa.text("SELECT id, state FROM executions")).all())
        error = conn.execute(sa.text("SELECT error FROM executions WHERE id = 5")).scalar_one()
        spots = conn.execute(sa.text("SELECT count(*) FROM spot_warnings")).scalar_one()
    assert states == {1: "succeeded", 2: "queued", 3: "failed", 4: "running", 5: "failed"}
    assert error == "state was refused before the downgrade from 0005" and spots == 3
    assert upgrade(db) == head_revision()
