"""What the Spot handler does to one interrupted node: cordon, launch a replacement, drain in time.

Called by `app.services.spot_handler`: `cordon` runs as soon as the event is stored (the first
thing the notice is spent on: no new pod may land on a node that has two minutes left), then
`replace_and_drain` runs on a drain thread: rank the replacement types (`spot_replacement`),
launch the first AWS has capacity for (executor.node_launch, same subnet, security groups,
profile and tags as the interrupted node), check whether the pods' grace periods and PDB waits
fit in what is left of the notice (executor.drain_plan) and say so in `feasibility` when not,
then drain until the deadline minus `drain_margin_s` (executor.drain: PDB-blocked pods are
retried while every other pod leaves, so what can be drained is drained first). Each step's
time goes into the row the moment it happens.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from app.db.states import SpotWarningStatus
from app.db.types import utcnow
from app.services import spot_store as store
from app.services.spot_clusters import Located
from app.services.spot_history import spot_pool_history
from app.services.spot_models import load_active_scorer
from app.services.spot_replacement import TYPE_LABEL, ZONE_LABEL, CandidateBook, choose_types, pod_needs, ranking_detail
from app.settings import Settings
from engines.snapshot_aws import SpotPoolHistory
from engines.spot.scorer import SpotRiskScorer
from executor import aws_calls as aws
from executor import k8s_util as k
from executor import node_launch as nl
from executor.base import ExecContext, ExecutorError, StepRecord
from executor.drain import DrainTimeout, cordon_node, drain_feasibility, drain_node
from executor.drain_plan import pods_on

log = logging.getLogger(__name__)
DRAIN_POLL_S = 0.5  # the notice is short: a pod gone is seen within half a second (one list call)
MAX_STEPS = 300  # steps kept in the row's detail; a drain retrying a PDB-blocked pod records few


@dataclass
class Incident:
    """One warning being handled: its row, node, clients and the steps recorded so far."""

    row: store.WarningRow
    located: Located
    ctx: ExecContext
    drain_by: datetime  # wall-clock time the drain must end
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def node_name(self) -> str:
        return str(k.meta(self.located.node)["name"])


def _labels(node: k.Obj) -> dict[str, str]:
    return {str(a): str(b) for a, b in (k.meta(node).get("labels") or {}).items()}


def _steps_detail(steps: list[StepRecord]) -> list[dict[str, str]]:
    return [
        {"name": s.name, "status": s.status, "detail": s.detail, "at": s.at.isoformat()} for s in steps[-MAX_STEPS:]
    ]


class SpotActions:
    def __init__(self, settings: Settings, db: Engine, book: CandidateBook, should_stop: Callable[[], bool]) -> None:
        self.settings = settings
        self.db = db
        self.book = book
        self.should_stop = should_stop

    def incident(self, row: store.WarningRow, located: Located) -> Incident:
        steps: list[StepRecord] = []
        c = located.clients
        ctx = ExecContext(cluster=c.name, region=c.region, core=c.core, apps=c.apps, policy=c.policy, ec2=c.ec2,
                          record=steps.append, should_stop=self.should_stop, poll_interval_s=DRAIN_POLL_S,
                          drain_timeout_s=float(self.settings.executor.drain_timeout_s))  # fmt: skip
        if row.deadline_at is not None:
            drain_by = row.deadline_at - timedelta(seconds=self.settings.spot.drain_margin_s)
        else:  # a rebalance recommendation acted on: no notice, the executor's own drain deadline
            drain_by = utcnow() + timedelta(seconds=self.settings.executor.drain_timeout_s)
        return Incident(row, located, ctx, drain_by, steps)

    def cordon(self, inc: Incident) -> None:
        """Cordon at once, then record the node, its pool and the time in one write: the cordon
        comes before any bookkeeping (a crash in between leaves the row `received`, and a resume
        cordons again, which is a no-op)."""
        labels = _labels(inc.located.node)
        cordon_node(inc.ctx, inc.node_name)
        pool = {"instance_type": labels.get(TYPE_LABEL, ""), "zone": labels.get(ZONE_LABEL, "")}
        store.update(self.db, inc.row.id, status=SpotWarningStatus.HANDLING, cluster_id=inc.located.clients.cluster_id,
                     node_name=inc.node_name, cordoned_at=utcnow(),
                     detail={"pool": pool, "cluster": inc.located.clients.name})  # fmt: skip
        log.info("Spot: %s %s: node %s of %s cordoned", inc.row.detail_type, inc.row.instance_id, inc.node_name,
                 inc.located.clients.name)  # fmt: skip

    def replace_and_drain(self, inc: Incident) -> None:
        """Launch the replacement, then drain; never raises (the outcome is the row's status)."""
        try:
            self._replace(inc)
            self._drain(inc)
        except Exception as exc:  # an API or database failure: the row says so, the thread lives on
            log.exception("Spot: handling of %s failed", inc.row.instance_id)
            self._end(inc, SpotWarningStatus.FAILED, f"{type(exc).__name__}: {exc}", handled=False)

    def _replace(self, inc: Incident) -> None:
        ctx, labels = inc.ctx, _labels(inc.located.node)
        old = aws.describe_instance(ctx, inc.row.instance_id)
        if old is None or aws.state_of(old) not in ("running", "pending"):
            store.update(
                self.db,
                inc.row.id,
                detail={"replacement_error": f"instance {inc.row.instance_id} is {aws.state_of(old)}; nothing to copy"},
            )
            return
        old_type = str(old.get("InstanceType") or labels.get(TYPE_LABEL, ""))
        zone = str((old.get("Placement") or {}).get("AvailabilityZone") or labels.get(ZONE_LABEL, ""))
        needs = pod_needs(inc.located.node, pods_on(ctx, inc.node_name), self.book.spec(old_type))
        since = utcnow() - timedelta(minutes=self.settings.spot.pool_avoid_minutes)
        recent = store.recent_pools(self.db, since) if self.settings.spot.pool_avoid_minutes else []
        scorer, history = self._risk(ctx.region)
        ranking = choose_types(
            self.book,
            region=ctx.region,
            zone=zone,
            old_type=old_type,
            needs=needs,
            recent=recent,
            count=self.settings.spot.replacement_types,
            scorer=scorer,
            history=history,
        )
        spot, types = True, ranking.types
        if not types:  # nothing fits outside the avoided pools: capacity first, on-demand of the old type
            spot, types = False, (old_type,)
        try:
            new_id, new_type = nl.launch(ctx, old, types, spot=spot)
        except ExecutorError as exc:
            log.warning("Spot: no replacement for %s: %s", inc.row.instance_id, exc)
            store.update(
                self.db, inc.row.id, detail={"ranking": ranking_detail(ranking), "replacement_error": str(exc)}
            )
            return
        store.update(self.db, inc.row.id, replacement_launched_at=utcnow(), replacement_instance_id=new_id,
                     detail={"ranking": ranking_detail(ranking), "replacement_type": new_type,
                             "replacement_capacity": "spot" if spot else "on-demand"})  # fmt: skip
        log.info("Spot: replacement %s (%s) launched for %s", new_id, new_type, inc.row.instance_id)

    def _risk(self, region: str) -> tuple[SpotRiskScorer | None, tuple[SpotPoolHistory, ...]]:
        """The scan's interruption risk inputs: the active model and the account's own warnings.
        A failure to read them must not cost the replacement: the Advisor prior alone is used."""
        try:
            return load_active_scorer(self.db), spot_pool_history(self.db, region, utcnow())
        except Exception:
            log.warning("Spot: risk model or pool history unavailable; ranking with the Advisor prior", exc_info=True)
            return None, ()

    def _drain(self, inc: Incident) -> None:
        ctx = inc.ctx
        budget = (inc.drain_by - utcnow()).total_seconds()
        if budget <= 0:
            self._end(
                inc,
                SpotWarningStatus.FAILED,
                "no time left to drain: the notice (minus the drain margin) had passed",
                handled=False,
            )
            return
        pods = pods_on(ctx, inc.node_name)
        check = drain_feasibility(ctx, inc.node_name, budget, pods=pods)
        if check.fits:
            note = (
                f"fits: about {check.estimated_s:.0f} s for {k.plural(len(check.evictable), 'pod')} of {budget:.0f} s"
            )
        else:
            # A blocked budget cannot fit; a long estimate is an upper bound (each round counts the
            # longest grace period and a replacement's start), so it only may not.
            verdict = "does not fit" if math.isinf(check.estimated_s) else "may not fit"
            note = (
                f"{verdict} in the {budget:.0f} s left: "
                + "; ".join(check.blockers)
                + "; draining every other pod first"
            )
        store.update(self.db, inc.row.id, feasibility=note + "".join(f"; {n}" for n in check.notes))
        started = utcnow()
        try:
            result = drain_node(ctx, inc.node_name, deadline=ctx.monotonic() + budget)
        except DrainTimeout as exc:
            evicted = [s.name.removeprefix("evict ") for s in inc.steps if s.name.startswith("evict ")
                       and s.status == "succeeded"]  # fmt: skip
            store.update(
                self.db,
                inc.row.id,
                detail={"drain_ended_at": utcnow().isoformat(), "evicted": evicted, "blocked_pod": exc.pod},
            )
            self._end(
                inc,
                SpotWarningStatus.FAILED,
                f"drain incomplete at the deadline: {exc} ({k.plural(len(evicted), 'pod')} evicted)",
                handled=False,
            )
            return
        except ExecutorError as exc:
            if self.should_stop():  # parked: the next worker start resumes it while the notice lasts
                store.update(
                    self.db,
                    inc.row.id,
                    message=f"the worker stopped during the drain: {exc}",
                    detail={"steps": _steps_detail(inc.steps)},
                )
                return
            self._end(inc, SpotWarningStatus.FAILED, f"drain failed: {exc}", handled=False)
            return
        now = utcnow()
        store.update(
            self.db,
            inc.row.id,
            drained_at=now,
            detail={
                "drain_started_at": started.isoformat(),
                "drain_ended_at": now.isoformat(),
                "evicted": [f"{p.namespace}/{p.name}" for p in result.evicted],
                "drain_s": round(result.elapsed_s, 3),
            },
        )
        in_notice = inc.row.deadline_at is None or now <= inc.row.deadline_at
        self._end(
            inc,
            SpotWarningStatus.HANDLED,
            f"drained {k.plural(len(result.evicted), 'pod')} in {result.elapsed_s:.1f} s",
            handled=in_notice,
        )

    def _end(self, inc: Incident, status: SpotWarningStatus, message: str, *, handled: bool) -> None:
        notes = [str(n) for n in inc.row.detail.get("notes") or []]
        store.update(
            self.db,
            inc.row.id,
            status=status,
            message="; ".join([message, *notes]),
            handled_in_notice=handled,
            detail={"steps": _steps_detail(inc.steps)},
        )
        log.log(
            logging.INFO if status is SpotWarningStatus.HANDLED else logging.WARNING,
            "Spot: %s on %s: %s",
            status.value,
            inc.row.instance_id,
            message,
        )
