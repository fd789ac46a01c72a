"""Uploaded Spot risk models: real scikit-learn estimators saved with skops, on SQLite and PostgreSQL.

Every rejection must name its cause and leave the default scorer in charge (no active model).
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeRegressor
from sqlalchemy import Engine, update
from sqlmodel import Session

from app.db import session_scope
from app.db.models import StoredModel
from app.services.spot_models import (
    MAX_MODEL_BYTES,
    ModelError,
    activate_model,
    add_model,
    deactivate_model,
    list_models,
    load_active_scorer,
)
from engines.spot.scorer import FEATURE_NAMES, PoolFeatures

SCHEMA = {"features": list(FEATURE_NAMES), "output": "probability"}
POOLS = [
    PoolFeatures("us-east-1", "m5.large", "us-east-1a", 3, 66, 2, 8.0, 0, 0.45, 2, 300.0),
    PoolFeatures("us-east-1", "c5.xlarge", "us-east-1b", 0, 56, 4, 8.0, 0, 0.42, 0, 0.0),
]


def training_data(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Rows over the eight features; interrupted (1) mostly in high Advisor buckets."""
    rng = np.random.RandomState(7)
    x = np.column_stack([
        rng.randint(0, 5, n), rng.randint(40, 90, n), rng.choice([2, 4, 8], n), rng.choice([4.0, 8.0, 16.0], n),
        rng.randint(0, 2, n), rng.uniform(0.2, 0.7, n), rng.randint(0, 4, n), rng.uniform(0, 700, n),
    ])  # fmt: skip
    y = ((x[:, 0] + rng.uniform(0, 2, n)) > 3.5).astype(int)
    return x, y


def save(model: object, path: Path) -> Path:
    sio.dump(model, path)
    return path


def logistic(tmp_path: Path) -> Path:
    x, y = training_data()
    return save(make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y), tmp_path / "logistic.skops")


def _double(x: np.ndarray) -> np.ndarray:  # a custom Python function: code skops must not trust
    return x * 2


class Custom:
    """A plain custom class instance, saved with skops."""

    n_features_in_ = 8


def test_a_logistic_regression_on_the_declared_features_is_accepted_activated_loaded_and_predicts(
    engine: Engine, tmp_path: Path
) -> None:
    row = add_model(engine, logistic(tmp_path), name="lr", schema=SCHEMA, uploaded_by="ana")
    assert row.validation_error is None and len(row.sha256) == 64
    assert row.meta["estimator"] == "Pipeline" and len(row.meta["trial"]) >= 3
    assert load_active_scorer(engine) is None  # stored, not yet active
    assert row.id is not None
    assert activate_model(engine, row.id).active
    scorer = load_active_scorer(engine)
    assert scorer is not None and scorer.name == "lr" and scorer.model_id == row.id
    risky, calm = scorer.p_interruption_hour(POOLS)
    assert 0.0 <= calm < risky <= 1.0  # bucket 3 is riskier than bucket 0 in the training data
    assert scorer.p_interruption_hour([]) == []


def test_a_gradient_boosting_model_on_named_columns_is_accepted_from_bytes(engine: Engine, tmp_path: Path) -> None:
    x, y = training_data()
    model = GradientBoostingClassifier(n_estimators=20).fit(pd.DataFrame(x, columns=list(FEATURE_NAMES)), y)
    data = sio.dumps(model)
    assert sio.get_untrusted_types(data=data) == ["sklearn.tree._tree.Tree"]  # trusted by our allow-list
    row = add_model(engine, data, name="gb", schema=SCHEMA, uploaded_by="ana")
    assert row.validation_error is None and row.id is not None
    activate_model(engine, row.id)
    scorer = load_active_scorer(engine)
    assert scorer is not None and scorer.name == "gb"
    assert all(0.0 <= p <= 1.0 for p in scorer.p_interruption_hour(POOLS))


def test_a_regressor_giving_the_hourly_probability_is_accepted(engine: Engine, tmp_path: Path) -> None:
    x, y = training_data()
    three = ["advisor_bucket", "observed_interruptions", "observed_hours"]
    model = DecisionTreeRegressor(max_depth=3).fit(x[:, [0, 6, 7]], y * 0.002)
    row = add_model(engine, save(model, tmp_path / "t.skops"), name="tree", uploaded_by="",
                    schema={"features": three, "output": "p_interruption_hour"})  # fmt: skip
    assert row.validation_error is None and row.id is not None
    activate_model(engine, row.id)
    scorer = load_active_scorer(engine)
    assert scorer is not None
    assert all(0.0 <= p <= 0.002 for p in scorer.p_interruption_hour(POOLS))


def _assert_rejected(engine: Engine, row: StoredModel, *words: str) -> None:
    """Stored with the reason, never activatable, and the default scorer stays."""
    assert row.validation_error is not None and not row.active
    for word in words:
        assert word in row.validation_error
    assert row.id is not None
    with pytest.raises(ModelError, match="rejected and cannot be activated"):
        activate_model(engine, row.id)
    assert load_active_scorer(engine) is None
    assert [m.validation_error for m in list_models(engine)] == [row.validation_error]


def test_a_model_trained_on_a_different_feature_count_is_rejected_naming_the_counts(engine: Engine, tmp_path: Path) -> None:
    x, y = training_data()
    path = save(LogisticRegression(max_iter=2000).fit(x[:, :3], y), tmp_path / "m.skops")
    row = add_model(engine, path, name="m", schema=SCHEMA, uploaded_by="ana")
    _assert_rejected(engine, row, "expects 3 features", "declares 8")


def test_an_unknown_feature_name_in_the_schema_is_rejected_naming_it(engine: Engine, tmp_path: Path) -> None:
    schema = {"features": [*FEATURE_NAMES[:7], "spot_price_usd"], "output": "probability"}
    row = add_model(engine, logistic(tmp_path), name="m", schema=schema, uploaded_by="ana")
    _assert_rejected(engine, row, "unknown feature(s) in the schema: spot_price_usd")


def test_columns_in_another_order_than_the_schema_are_rejected(engine: Engine) -> None:
    x, y = training_data()
    names = list(reversed(FEATURE_NAMES))
    data = sio.dumps(LogisticRegression(max_iter=2000).fit(pd.DataFrame(x, columns=names), y))
    row = add_model(engine, data, name="m", schema=SCHEMA, uploaded_by="ana")
    _assert_rejected(engine, row, "trained on columns observed_hours", "same order")


def test_a_model_whose_output_leaves_zero_to_one_is_rejected(engine: Engine, tmp_path: Path) -> None:
    x, y = training_data()
    model = LinearRegression().fit(x, y * 10.0)  # "interruptions per day", not a probability
    row = add_model(engine, save(model, tmp_path / "m.skops"), name="m", uploaded_by="ana",
                    schema={"features": list(FEATURE_NAMES), "output": "p_interruption_hour"})  # fmt: skip
    _assert_rejected(engine, row, "outside [0, 1]")


def test_a_classifier_declared_as_a_regressor_is_rejected(engine: Engine, tmp_path: Path) -> None:
    row = add_model(engine, logistic(tmp_path), name="m", uploaded_by="ana",
                    schema={"features": list(FEATURE_NAMES), "output": "p_interruption_hour"})  # fmt: skip
    _assert_rejected(engine, row, "needs a regressor")


def test_a_pipeline_with_a_custom_python_function_is_rejected_naming_the_untrusted_type(engine: Engine, tmp_path: Path) -> None:
    x, y = training_data()
    model = make_pipeline(FunctionTransformer(_double), StandardScaler(), LogisticRegression()).fit(x, y)
    row = add_model(engine, save(model, tmp_path / "m.skops"), name="m", schema=SCHEMA, uploaded_by="ana")
    _assert_rejected(engine, row, "untrusted types in the file: tests.test_spot_models._double")


def test_a_custom_class_instance_is_rejected_naming_the_untrusted_type(engine: Engine, tmp_path: Path) -> None:
    row = add_model(engine, save(Custom(), tmp_path / "m.skops"), name="m", schema=SCHEMA, uploaded_by="ana")
    _assert_rejected(engine, row, "tests.test_spot_models.Custom")


def test_a_pickle_is_rejected_as_not_a_skops_file(engine: Engine) -> None:
    x, y = training_data()
    row = add_model(engine, pickle.dumps(LogisticRegression(max_iter=2000).fit(x, y)), name="m", schema=SCHEMA, uploaded_by="ana")
    _assert_rejected(engine, row, "not a readable skops file")


def test_a_file_over_the_size_limit_or_a_taken_name_is_refused_and_not_stored(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="over 50 MiB, the limit"):
        add_model(engine, b"\0" * (MAX_MODEL_BYTES + 1), name="big", schema=SCHEMA, uploaded_by="ana")
    add_model(engine, logistic(tmp_path), name="lr", schema=SCHEMA, uploaded_by="ana")
    with pytest.raises(ModelError, match="already exists"):
        add_model(engine, logistic(tmp_path), name="lr", schema=SCHEMA, uploaded_by="ana")
    with pytest.raises(ModelError, match="cannot read the model file"):
        add_model(engine, tmp_path / "missing.skops", name="x", schema=SCHEMA, uploaded_by="ana")
    assert [m.name for m in list_models(engine)] == ["lr"]


def test_only_one_model_is_active_and_deactivating_it_brings_back_the_default(engine: Engine, tmp_path: Path) -> None:
    first = add_model(engine, logistic(tmp_path), name="a", schema=SCHEMA, uploaded_by="ana")
    second = add_model(engine, logistic(tmp_path), name="b", schema=SCHEMA, uploaded_by="ana")
    assert first.id is not None and second.id is not None
    activate_model(engine, first.id)
    activate_model(engine, second.id)
    assert {m.name: m.active for m in list_models(engine)} == {"a": False, "b": True}
    deactivate_model(engine, second.id)
    assert load_active_scorer(engine) is None
    with pytest.raises(ModelError, match="no Spot risk model with id 999"):
        activate_model(engine, 999)


@pytest.mark.parametrize("keep_hash", [False, True])
def test_content_altered_in_the_database_fails_on_load_and_the_default_stays(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture, keep_hash: bool
) -> None:
    row = add_model(engine, logistic(tmp_path), name="lr", schema=SCHEMA, uploaded_by="ana")
    assert row.id is not None
    activate_model(engine, row.id)
    x, y = training_data()
    evil = sio.dumps(make_pipeline(FunctionTransformer(_double), StandardScaler(), LogisticRegression()).fit(x, y))
    values: dict[str, object] = {"content": evil}
    if keep_hash:  # a careful attacker also rewrites the hash: the trusted-types check still stops it
        import hashlib

        values["sha256"] = hashlib.sha256(evil).hexdigest()
    with session_scope(engine) as session:
        session.exec(update(StoredModel).where(StoredModel.id == row.id).values(**values))  # type: ignore[call-overload, arg-type]
    with caplog.at_level(logging.WARNING):
        assert load_active_scorer(engine) is None
    expected = "untrusted types in the file" if keep_hash else "no longer matches its SHA-256"
    assert expected in caplog.text
    with Session(engine) as session:
        stored = session.get_one(StoredModel, row.id)
        assert not stored.active and stored.validation_error is not None and expected in stored.validation_error
