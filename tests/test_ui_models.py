"""The Models page (AppTest, SQLite and PostgreSQL) with real skops files: a valid model uploaded,
activated and deactivated; hostile or broken uploads refused with their reason; the bad-input
cases that store nothing; predictions vs actual interruptions; and what a viewer may do."""

from __future__ import annotations

import pickle
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from streamlit.testing.v1 import AppTest

from app.db.models import SpotWarning, StoredModel
from app.db.states import Role
from app.db.tables_recs import AuditEvent
from app.db.types import utcnow
from app.services.access import AccessDenied, Principal
from app.services.spot_models import activate_model, add_model, load_active_scorer
from app.services.spot_predictions import INTERRUPTION, RecordingScorer, store_predictions
from engines.spot.scorer import AdvisorPriorScorer
from tests.test_spot_models import POOLS, SCHEMA, logistic, training_data
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")


def _double(x: object) -> object:  # a custom Python function inside the model: code skops must not trust
    return x


def _open(role: str = "admin") -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), role)
    at.run()
    at.switch_page("../pages/models.py").run()
    assert not at.exception
    return at


def _upload(at: AppTest, name: str, content: bytes, schema_json: str = "") -> AppTest:
    at.text_input(key="model_name").input(name)
    at.file_uploader(key="model_file").set_value((f"{name}.skops", content, "application/octet-stream"))
    if schema_json:
        at.text_area(key="model_schema_json").input(schema_json)
    next(b for b in at.button if b.label == "Validate and store").click().run()
    assert not at.exception
    return at


def _stored(engine: Engine) -> list[StoredModel]:
    with Session(engine) as s:
        return list(s.exec(select(StoredModel)).all())


def test_a_valid_model_is_uploaded_activated_and_deactivated_by_an_admin(engine: Engine, tmp_path: Path) -> None:
    at = _upload(_open(), "lr", logistic(tmp_path).read_bytes())
    assert "Model lr passed validation (Pipeline)" in at.success[0].value
    (row,) = _stored(engine)
    assert row.uploaded_by == "admin" and row.validation_error is None and not row.active
    at.run()
    assert list(at.dataframe[0].value["State"]) == ["ready"]
    at.button(key="model_activate").click().run()
    assert "lr is now the Spot risk scorer" in at.success[0].value
    scorer = load_active_scorer(engine)
    assert scorer is not None and scorer.name == "lr"
    assert list(at.dataframe[0].value["State"]) == ["active"] and at.button(key="model_activate").disabled
    at.button(key="model_deactivate").click().run()
    assert "deactivated" in at.success[0].value and load_active_scorer(engine) is None
    with Session(engine) as s:
        audit = [a for a in s.exec(select(AuditEvent).order_by(col(AuditEvent.id))) if a.target == "model/lr"]
    actions, actors = [a.action for a in audit], {a.actor for a in audit}
    assert actions == ["model uploaded", "model activated", "model deactivated"] and actors == {"admin"}


def test_a_model_with_an_untrusted_function_is_rejected_with_its_reason_and_cannot_be_activated(
    engine: Engine,
) -> None:
    x, y = training_data()
    hostile = sio.dumps(make_pipeline(FunctionTransformer(_double), StandardScaler(), LogisticRegression()).fit(x, y))
    at = _upload(_open(), "evil", hostile)
    rejection = next(e.value for e in at.error if "was rejected" in e.value).replace("\\", "")
    assert "untrusted types in the file: tests.test_ui_models._double" in rejection and "cannot be activated" in rejection
    (row,) = _stored(engine)
    assert row.validation_error is not None and not row.active
    at.run()
    assert list(at.dataframe[0].value["State"]) == ["rejected"] and at.button(key="model_activate").disabled


@pytest.mark.parametrize(
    ("content", "schema_json", "reason", "stored"),
    [
        (b"", "", "the model file is empty", 0),
        (b"PK\x03\x04 not really a zip", "", "not a readable skops file", 1),
        (None, "", "not a readable skops file", 1),  # a pickle named .skops
        (None, "{not json", "the schema is not JSON", 0),
        (None, '{"features": ["spot_price_usd"], "output": "probability"}', "unknown feature(s) in the schema", 1),
    ],
)
def test_bad_uploads_are_refused_with_a_clear_reason(
    engine: Engine, content: bytes | None, schema_json: str, reason: str, stored: int
) -> None:
    if content is None:
        x, y = training_data()
        content = pickle.dumps(LogisticRegression(max_iter=2000).fit(x, y))
    at = _upload(_open(), "m", content, schema_json)
    assert not at.success
    assert any(reason in e.value.replace("\\", "") for e in at.error), [e.value for e in at.error]
    assert len(_stored(engine)) == stored and all(not r.active for r in _stored(engine))


def test_submitting_without_a_file_asks_for_one(engine: Engine) -> None:
    at = _open()
    at.text_input(key="model_name").input("m")
    next(b for b in at.button if b.label == "Validate and store").click().run()
    assert "Choose a skops file" in at.error[0].value and _stored(engine) == []


def test_a_viewer_sees_the_models_but_no_upload_or_switch_and_the_service_refuses_him(engine: Engine, tmp_path: Path) -> None:
    row = add_model(engine, logistic(tmp_path), name="lr", schema=SCHEMA, uploaded_by="cli")
    at = _open("viewer")
    assert list(at.dataframe[0].value["Name"]) == ["lr"]
    assert not at.file_uploader and not at.text_input
    assert not [b for b in at.button if b.label in ("Activate", "Deactivate", "Validate and store")]
    viewer = Principal("viewer", Role.VIEWER)
    assert row.id is not None
    with pytest.raises(AccessDenied):
        activate_model(engine, row.id, actor=viewer)
    with pytest.raises(AccessDenied):
        add_model(engine, logistic(tmp_path), name="x", schema=SCHEMA, actor=viewer)
    assert load_active_scorer(engine) is None and len(_stored(engine)) == 1


def test_predictions_are_charted_against_the_interruptions_that_came(engine: Engine) -> None:
    scorer = RecordingScorer(AdvisorPriorScorer())
    scorer.p_interruption_hour(POOLS)
    store_predictions(engine, scorer, scan_run_id=None, model_id=None, now=utcnow() - timedelta(hours=5))
    with Session(engine) as s:
        s.add(SpotWarning(event_id="e1", detail_type=INTERRUPTION, instance_id="i-1", region="us-east-1",
                          event_time=utcnow() - timedelta(hours=1),
                          detail={"pool": {"instance_type": "m5.large", "zone": "us-east-1a"}}))  # fmt: skip
        s.commit()
    at = _open("viewer")
    assert len(at.get("plotly_chart")) == 1
    caption = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "2 pools: expected" in caption and "actual 1" in caption


def test_without_predictions_the_page_says_how_they_come(engine: Engine) -> None:
    at = _open("viewer")
    assert any("No Spot predictions in the last 30 days" in i.value for i in at.info)
    assert not at.get("plotly_chart")
