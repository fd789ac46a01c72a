"""Analyst-supplied Spot risk models: upload, validate, activate, and load as a `SpotRiskScorer`.

Called by `cloudoptim models`, the Models page (app/ui/models.py) and, for each scan, `spot_predictions.scorer_for_scan`.
A model is a scikit-learn estimator saved with `skops.io.dump`, never a pickle, opened only when skops'
`get_untrusted_types` reports nothing outside `TRUSTED_TYPES`, trusting exactly those. Its schema
`{"features": [...], "output": "probability" | "p_interruption_hour"}` over `engines.spot.scorer.FEATURES` is
checked against the estimator and by a trial prediction on real pools. A rejected model is stored with the
reason and never activated; the active one is re-checked on every load, a failure keeps the default scorer.
Uploads, activation and deactivation need `Permission.UPLOADS` (a bare-string actor is the trusted CLI) and
are audited.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.base import is_classifier
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import StoredModel
from app.db.tables_recs import AuditEvent
from app.pricing import load_price_book
from app.services.access import Actor, Permission, require
from engines.contract import PriceBook
from engines.spot.scorer import FEATURES, SPOT_RISK_MODEL, PoolFeatures

log = logging.getLogger(__name__)

MAX_MODEL_BYTES = 50 * 1024 * 1024  # a Spot risk model over 8 features is kilobytes; 50 MB is a mistake
OUTPUTS = ("probability", "p_interruption_hour")
# Types skops reports as untrusted for estimators we accept (skops trusts estimators, pipelines, scalers and
# linear models itself): trees of forests/boosting/AdaBoost, CalibratedClassifierCV calibrators, MLP optimizers,
# k-NN trees, numpy dtypes. Anything else (a custom class, a function in a FunctionTransformer) can run code.
TRUSTED_TYPES: frozenset[str] = frozenset({
    "numpy.dtype", "sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer", "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree", "sklearn.metrics._dist_metrics.EuclideanDistance64",
})  # fmt: skip
TRIAL_REGION = "us-east-1"  # the trial's real pools: small to GPU, low to highest Advisor bucket, Graviton
TRIAL_TYPES = ("t3.medium", "m5.large", "c5.xlarge", "r5.2xlarge", "m6g.large", "g4dn.xlarge")


class ModelError(ValueError):
    """A model operation that cannot be done (unknown id, too large, rejected, name taken)."""


class Rejected(ValueError):
    """Why a model is not acceptable; stored as its validation_error."""


@dataclass(frozen=True)
class ModelView:
    """A stored model without its bytes, for lists and messages."""

    id: int
    name: str
    active: bool
    validation_error: str | None
    sha256: str
    features: tuple[str, ...]
    output: str
    estimator: str
    uploaded_by: str
    uploaded_at: datetime


def _view(row: StoredModel) -> ModelView:
    assert row.id is not None
    meta, schema = row.meta or {}, (row.meta or {}).get("schema") or {}
    return ModelView(row.id, row.name, row.active, row.validation_error, row.sha256, tuple(schema.get("features") or ()),
                     str(schema.get("output", "")), str(meta.get("estimator", "")), row.uploaded_by, row.uploaded_at)  # fmt: skip


@dataclass(frozen=True)
class SkopsRiskScorer:
    """A loaded model behind the `SpotRiskScorer` protocol (name = the stored model's name)."""

    name: str
    model_id: int
    model: Any
    features: tuple[str, ...]
    output: str
    class_index: int = 1

    def raw(self, pools: Sequence[PoolFeatures]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The model's own outputs in pool order, unclipped (the trial checks them as they are)."""
        if not pools:
            return np.zeros(0)
        rows = [[float(getattr(p, f)) for f in self.features] for p in pools]
        matrix: Any = np.asarray(rows, dtype=np.float64)
        if getattr(self.model, "feature_names_in_", None) is not None:  # fitted on named columns: name them
            matrix = pd.DataFrame(matrix, columns=list(self.features))
        if self.output == "probability":
            return np.asarray(self.model.predict_proba(matrix), dtype=np.float64)[:, self.class_index]
        return np.asarray(self.model.predict(matrix), dtype=np.float64).reshape(-1)

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]:
        # A non-finite output counts as certain interruption: the engine then keeps the pool off Spot.
        raw = np.nan_to_num(self.raw(pools), nan=1.0, posinf=1.0, neginf=0.0)
        return [float(p) for p in np.clip(raw, 0.0, 1.0)]


def _schema(schema: Any) -> tuple[tuple[str, ...], str]:
    if not isinstance(schema, dict):
        raise Rejected('the schema must be a JSON object {"features": [...], "output": ...}')
    features, output = schema.get("features"), schema.get("output")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise Rejected('the schema\'s "features" must be a non-empty list of feature names')
    if unknown := [f for f in features if f not in FEATURES]:
        raise Rejected(f"unknown feature(s) in the schema: {', '.join(unknown)} (known: {', '.join(FEATURES)})")
    if len(set(features)) != len(features):
        raise Rejected("the schema lists a feature twice")
    if output not in OUTPUTS:
        raise Rejected(f'the schema\'s "output" must be one of {", ".join(OUTPUTS)}, not {output!r}')
    return tuple(features), str(output)


def _open(data: bytes) -> tuple[Any, list[str]]:
    """skops' trusted-types check, then a load trusting only what the check reported and we allow."""
    try:
        reported = sorted(sio.get_untrusted_types(data=data))
    except Exception as exc:  # a zip error, a missing schema.json: not a skops file at all
        raise Rejected(f"not a readable skops file ({type(exc).__name__}: {exc})") from exc
    if untrusted := [t for t in reported if t not in TRUSTED_TYPES]:
        raise Rejected(f"untrusted types in the file: {', '.join(untrusted)}; only scikit-learn estimators and "
                       f"these types are accepted: {', '.join(sorted(TRUSTED_TYPES))}")  # fmt: skip
    try:
        return sio.loads(data, trusted=reported), reported
    except Exception as exc:
        raise Rejected(f"skops could not load the model ({type(exc).__name__}: {exc})") from exc


def _scorer(model: Any, features: tuple[str, ...], output: str, *, name: str, model_id: int) -> SkopsRiskScorer:
    """The estimator checked against the declared schema."""
    n_in = getattr(model, "n_features_in_", None)
    if n_in is None:
        raise Rejected(f"{type(model).__name__} is not a fitted scikit-learn estimator (no n_features_in_)")
    if int(n_in) != len(features):
        raise Rejected(f"the model expects {n_in} features but the schema declares {len(features)}: {', '.join(features)}")
    names = getattr(model, "feature_names_in_", None)
    if names is not None and tuple(str(n) for n in names) != features:
        raise Rejected(f"the model was trained on columns {', '.join(map(str, names))} but the schema declares "
                       f"{', '.join(features)} (same names, same order)")  # fmt: skip
    class_index = 1
    if output == "probability":
        if not is_classifier(model) or not hasattr(model, "predict_proba"):
            raise Rejected(f'output "probability" needs a classifier with predict_proba; {type(model).__name__} is not')
        classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
        if 1 not in classes:
            raise Rejected(f"the classifier has no class 1 (= interrupted within the hour); its classes: {classes}")
        class_index = classes.index(1)
    elif is_classifier(model):
        raise Rejected('output "p_interruption_hour" needs a regressor; a classifier predicts labels '
                       '(declare "probability" to use its predict_proba)')  # fmt: skip
    return SkopsRiskScorer(name, model_id, model, features, output, class_index)


def _trial(scorer: SkopsRiskScorer, prices: PriceBook) -> list[dict[str, Any]]:
    """Predict on a few real pools from the price book's Spot Advisor data, with and without own history."""
    pools = []
    for i, itype in enumerate(TRIAL_TYPES):
        try:
            advice, spec = prices.spot_advice(TRIAL_REGION, itype), prices.instance_spec(itype)
            spot, od = prices.spot_avg_hourly(TRIAL_REGION, itype), prices.on_demand_hourly(TRIAL_REGION, itype)
        except LookupError:
            continue  # the book lacks this type: the others still make a trial
        pools.append(PoolFeatures(TRIAL_REGION, itype, f"{TRIAL_REGION}{'abc'[i % 3]}", advice.interruption_bucket,
                                  advice.savings_percent, spec.vcpu, spec.memory_mib / 1024, spec.gpu_count,
                                  float(spot / od) if spot is not None and od else 0.0, i % 3, 100.0 * i))  # fmt: skip
    if not pools:
        raise Rejected(f"no {TRIAL_REGION} Spot Advisor data in the price book for a trial prediction")
    try:
        raw = scorer.raw(pools)
    except Exception as exc:
        raise Rejected(f"the trial prediction failed ({type(exc).__name__}: {exc})") from exc
    if raw.shape != (len(pools),):
        raise Rejected(f"the trial prediction returned shape {raw.shape}, not one value per pool")
    for pool, p in zip(pools, raw, strict=True):
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise Rejected(f"the trial prediction for {pool.instance_type} in {pool.zone} is {p}, "
                           "outside [0, 1]: the output is not a probability")  # fmt: skip
    return [{"instance_type": pool.instance_type, "zone": pool.zone, "p": float(p)} for pool, p in zip(pools, raw, strict=True)]


def validate(data: bytes, schema: Any, prices: PriceBook) -> dict[str, Any]:
    """The model's meta (schema, estimator, trusted types, trial); raises Rejected naming the cause."""
    features, output = _schema(schema)
    model, reported = _open(data)
    trial = _trial(_scorer(model, features, output, name="trial", model_id=0), prices)
    return {"schema": {"features": list(features), "output": output}, "estimator": type(model).__name__,
            "trusted_types": reported, "trial": trial}  # fmt: skip


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_MODEL_BYTES + 1)  # enough to tell it is too big, never more in memory
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc.strerror or exc}") from exc


def add_model(db: Engine, path_or_bytes: Path | str | bytes, *, name: str, schema: Any, uploaded_by: str = "",
              actor: Actor | None = None, prices: PriceBook | None = None) -> StoredModel:  # fmt: skip
    """Store a model, validated first; a rejected one is stored too, with its `validation_error`.

    `actor` is the web app's Principal (its name becomes `uploaded_by`); without one, `uploaded_by`
    is the trusted local operator (the CLI)."""
    who = require(actor if actor is not None else uploaded_by, Permission.UPLOADS)
    uploaded_by = who if actor is not None else uploaded_by
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else _read(Path(path_or_bytes))
    if not data:
        raise ModelError("the model file is empty")
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"the model is over {MAX_MODEL_BYTES // 2**20} MiB, the limit")
    if not name.strip() or len(name) > 100:
        raise ModelError("a model needs a name of 1 to 100 characters")
    meta: dict[str, Any] = {"schema": schema if isinstance(schema, dict) else {}, "size_bytes": len(data)}
    error: str | None = None
    try:
        meta |= validate(data, schema, prices or load_price_book())
    except Rejected as exc:
        error = str(exc)
        log.warning("Spot risk model %s rejected: %s", name, error)
    row = StoredModel(name=name, kind=SPOT_RISK_MODEL, sha256=hashlib.sha256(data).hexdigest(), content=data,
                      meta=meta, active=False, validation_error=error, uploaded_by=uploaded_by)  # fmt: skip
    try:
        with session_scope(db) as session:
            session.add(row)
            session.add(AuditEvent(actor=who or "local", action="model rejected" if error else "model uploaded",
                                   target=f"model/{name}", details={"sha256": row.sha256, "error": error}))  # fmt: skip
    except IntegrityError as exc:  # the name is unique in the table, even when two uploads race
        raise ModelError(f"a model named {name!r} already exists; choose another name") from exc
    return row


def _loaded(row: StoredModel) -> SkopsRiskScorer:
    """The stored model opened again from its bytes; the row may have been altered since upload."""
    assert row.id is not None
    if hashlib.sha256(row.content).hexdigest() != row.sha256:
        raise Rejected("its content no longer matches its SHA-256 (altered in the database)")
    features, output = _schema((row.meta or {}).get("schema"))
    model, _reported = _open(row.content)
    return _scorer(model, features, output, name=row.name, model_id=row.id)


def _row(session: Session, model_id: int) -> StoredModel:
    row = session.get(StoredModel, model_id)
    if row is None or row.kind != SPOT_RISK_MODEL:
        raise ModelError(f"no Spot risk model with id {model_id}; `cloudoptim models list` shows them")
    return row


def _audit(session: Session, who: str, action: str, row: StoredModel) -> None:
    session.add(AuditEvent(actor=who or "local", action=action, target=f"model/{row.name}", details={"id": row.id}))


def activate_model(db: Engine, model_id: int, *, actor: Actor = "local") -> ModelView:
    """Make this model the one Spot risk scorer; refuses a rejected or no longer loadable model."""
    who = require(actor, Permission.UPLOADS)
    with session_scope(db) as session:
        row = _row(session, model_id)
        if row.validation_error:
            raise ModelError(f"model {row.name} was rejected and cannot be activated: {row.validation_error}")
        try:
            _loaded(row)  # the bytes may have been altered since they were validated
        except Rejected as exc:
            raise ModelError(f"model {row.name} cannot be activated: {exc}") from exc
        session.exec(update(StoredModel).where(col(StoredModel.kind) == SPOT_RISK_MODEL)  # type: ignore[call-overload]
                     .where(col(StoredModel.id) != model_id).values(active=False))  # fmt: skip
        row.active = True
        _audit(session, who, "model activated", row)
        return _view(row)


def deactivate_model(db: Engine, model_id: int, *, actor: Actor = "local") -> ModelView:
    """Back to the default scorer (the Advisor prior) unless another model is activated."""
    who = require(actor, Permission.UPLOADS)
    with session_scope(db) as session:
        row = _row(session, model_id)
        row.active = False
        _audit(session, who, "model deactivated", row)
        return _view(row)


def list_models(db: Engine) -> list[ModelView]:
    """Every stored Spot risk model, newest first."""
    with Session(db) as session:
        rows = session.exec(select(StoredModel).where(StoredModel.kind == SPOT_RISK_MODEL)
                            .options(defer(StoredModel.content))  # type: ignore[arg-type]  # a list never needs the bytes
                            .order_by(col(StoredModel.uploaded_at).desc(), col(StoredModel.id).desc())).all()  # fmt: skip
        return [_view(r) for r in rows]


def load_active_scorer(db: Engine) -> SkopsRiskScorer | None:
    """The active model as a scorer, or None (the default scorer stays) when none is active or it
    fails its checks; a failure is logged and stored on the row, which is deactivated."""
    with session_scope(db) as session:
        row = session.exec(select(StoredModel).where(StoredModel.kind == SPOT_RISK_MODEL)
                           .where(col(StoredModel.active).is_(True)).order_by(col(StoredModel.id))).first()  # fmt: skip
        if row is None:
            return None
        try:
            return _loaded(row)
        except Exception as exc:  # whatever the cause, the scan goes on with the default scorer
            cause = str(exc) if isinstance(exc, Rejected) else f"{type(exc).__name__}: {exc}"
            row.active, row.validation_error = False, f"rejected on load: {cause}"
            log.warning("Spot risk model %s rejected on load (%s); the default scorer is used", row.name, cause)
    return None
