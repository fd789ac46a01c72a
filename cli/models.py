"""`cloudoptim models ...`: the analyst's own Spot risk models (scikit-learn, saved with skops).

`add` validates before storing (skops trusted-types check, the declared feature schema, a trial
prediction on real pools); a rejected model is stored with its reason, reported, and exits 2.
`activate` makes one model the Spot risk scorer of every scan; `deactivate` goes back to the
default (the Spot Advisor prior); `report` compares stored predictions with actual interruptions.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import EXIT_USAGE, error, open_db_or_exit, settings_or_exit, warn

group = typer.Typer(help="Spot risk models (scikit-learn, saved with skops).", no_args_is_help=True)

SCHEMA_HELP = 'JSON file: {"features": [names from the feature list], "output": "probability" | "p_interruption_hour"}'


def _schema(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        error(f"--schema: cannot read {path}: {exc.strerror or exc}")
    except ValueError as exc:
        error(f"--schema: {path} is not JSON: {exc}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in a container
        return ""


@group.command("add")
def add_cmd(
    path: Annotated[Path, typer.Argument(help="The model file written by skops.io.dump.")],
    name: Annotated[str, typer.Option(help="Unique name; shown as the scorer of its predictions.")],
    schema: Annotated[Path, typer.Option(help=SCHEMA_HELP)],
    by: Annotated[str, typer.Option(help="Who uploads it (default: the current user).")] = "",
) -> None:
    """Validate and store a Spot risk model (not active until `models activate ID`)."""
    from app.services.spot_models import ModelError, add_model

    declared = _schema(schema)
    settings = settings_or_exit()
    engine = open_db_or_exit(settings)
    try:
        row = add_model(engine, path, name=name, schema=declared, uploaded_by=by or _user())
    except ModelError as exc:
        error(str(exc))
    finally:
        engine.dispose()
    if row.validation_error:
        error(f"model {row.name} rejected (stored as id {row.id} so the reason can be shown): {row.validation_error}",
              code=EXIT_USAGE)  # fmt: skip
    typer.echo(f"added model {row.name} (id {row.id}, sha256 {row.sha256[:12]}); "
               f"make it the Spot risk scorer with `cloudoptim models activate {row.id}`")  # fmt: skip


@group.command("list")
def list_cmd() -> None:
    """List Spot risk models: id, name, state (active, ready, or rejected with the reason), estimator, features."""
    from app.services.spot_models import list_models

    engine = open_db_or_exit(settings_or_exit())
    try:
        models = list_models(engine)
    finally:
        engine.dispose()
    if not models:
        typer.echo("no Spot risk models; the default scorer (Spot Advisor prior) is used")
    for m in models:
        state = "active" if m.active else ("ready" if not m.validation_error else f"rejected: {m.validation_error}")
        typer.echo(f"{m.id}\t{m.name}\t{state}\t{m.estimator}\t{m.output}\t{','.join(m.features)}\t{m.uploaded_by}")


def _switch(model_id: int, *, on: bool) -> None:
    from app.services.spot_models import ModelError, activate_model, deactivate_model

    engine = open_db_or_exit(settings_or_exit())
    try:
        view = activate_model(engine, model_id) if on else deactivate_model(engine, model_id)
    except ModelError as exc:
        error(str(exc))
    finally:
        engine.dispose()
    if on:
        typer.echo(f"model {view.name} (id {view.id}) is now the Spot risk scorer")
    else:
        typer.echo(f"model {view.name} (id {view.id}) deactivated; the default scorer is used unless another is active")


@group.command("activate")
def activate_cmd(model_id: Annotated[int, typer.Argument(help="Model id (see `models list`).")]) -> None:
    """Make this model the Spot risk scorer of every scan (any other one is deactivated)."""
    _switch(model_id, on=True)


@group.command("deactivate")
def deactivate_cmd(model_id: Annotated[int, typer.Argument(help="Model id (see `models list`).")]) -> None:
    """Stop using this model; scans go back to the default scorer (Spot Advisor prior)."""
    _switch(model_id, on=False)


@group.command("report")
def report_cmd(
    scorer: Annotated[str | None, typer.Option(help="Only this scorer (a model name or 'advisor-prior').")] = None,
    days: Annotated[int, typer.Option(min=1, help="Window: predictions of the last N days.")] = 30,
) -> None:
    """Predicted vs actual Spot interruptions, per scorer and pool, then per scorer.

    Expected = sum of P(interruption per hour) x hours the prediction held x Spot nodes in the pool
    now (at least one); actual = interruption warnings received for the pool in that time.
    """
    from app.services.spot_predictions import prediction_report

    engine = open_db_or_exit(settings_or_exit())
    try:
        report = prediction_report(engine, scorer=scorer, since=datetime.now(UTC) - timedelta(days=days))
    finally:
        engine.dispose()
    if not report.rows:
        typer.echo(f"no Spot predictions in the last {days} days; they are stored by each scan")
        return
    typer.echo("scorer\tregion\ttype\tzone\tpredictions\tmean_p_hour\thours\tbasis\texpected\tactual")
    for r in report.rows:
        typer.echo(f"{r.scorer}\t{r.region}\t{r.instance_type}\t{r.zone}\t{r.predictions}\t{r.mean_p_hour:.6f}\t"
                   f"{r.hours:.1f}\t{r.hours_basis}\t{r.expected:.3f}\t{r.actual}")  # fmt: skip
    for c in report.summary:
        ratio = "n/a" if c.ratio is None else f"{c.ratio:.2f}"
        typer.echo(f"{c.scorer}: {c.pools} pools, expected {c.expected:.2f} interruptions, actual {c.actual}, "
                   f"actual/expected {ratio}, Poisson p={c.p_value:.3f}: {c.verdict}")  # fmt: skip
    if report.unplaced:
        warn(f"{report.unplaced} interruption warnings could not be placed in a pool (node unknown) and are not counted")
