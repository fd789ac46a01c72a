"""The ghost-probe engine: idle or orphaned EC2 instances outside every cluster, stop then terminate.

`app.services.scans` (through the engine registry) calls `GhostProbeEngine().scan(snapshot, ctx)`.
For every instance of `snapshot.account` it applies the gates (`gates.py`), judges a running one
over the CloudWatch window (`idle.py`), fuses the signals into a confidence (`signals.py`), prices
it from the price book (`costs.py`) and words the result (`report.py`). A running idle instance is
proposed for a stop (reversible); only an instance stopped for longer than the setting is proposed
for termination. Every instance looked at and not recommended gets a skip with the reason.
"""

from __future__ import annotations

from engines.actions import StopInstance, TerminateInstance
from engines.contract import Engine, Recommendation, ScanContext, ScanResult
from engines.ghost import report, signals
from engines.ghost.costs import attached_volumes, instance_hourly, storage_monthly
from engines.ghost.gates import refusal
from engines.ghost.idle import judge
from engines.ghost.settings import GhostProbeSettings
from engines.ghost.signals import aware
from engines.money import ZERO, monthly_from_hourly, quantize
from engines.snapshot_aws import AccountState, Instance, Snapshot


class GhostProbeEngine(Engine[GhostProbeSettings]):
    """Finds EC2 instances nobody uses: idle running ones (stop first) and long-stopped ones (terminate).

    An instance is judged only when it is not a node of a connected cluster, not in an Auto Scaling
    group, not Karpenter-managed and not opted out (tag cloudoptim.io/keep or cloudoptim.io/opt-out).
    A day is low when average CPU and network are under Trusted Advisor's thresholds; days without
    CloudWatch data are not counted. The confidence fuses low days, data coverage, age, owner and
    environment tags, load-balancer target groups, public IP, network interfaces and volumes.
    """

    name = "ghost-probe"
    title = "Ghost probe: idle or orphaned EC2 instances"
    Settings = GhostProbeSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[GhostProbeSettings]) -> ScanResult:
        result = ScanResult()
        account = snapshot.account
        if account is None:
            return result
        raw = ctx.settings
        settings = raw if isinstance(raw, GhostProbeSettings) else GhostProbeSettings.model_validate(raw.model_dump())
        cloudwatch_errors = [e.message for e in snapshot.errors if e.source.endswith(":cloudwatch")]
        nodes = set(account.cluster_node_instances)
        for instance in sorted(account.instances, key=lambda i: i.instance_id):
            target = f"instance/{instance.instance_id}"
            reason = refusal(instance, nodes, settings)
            if reason is not None:
                result.skip(target, reason)
                continue
            try:
                if instance.state == "running":
                    found = self._stop(instance, account, ctx, settings, cloudwatch_errors)
                else:
                    found = self._terminate(instance, account, ctx, settings)
            except LookupError as exc:
                found = f"{instance.instance_id} cannot be priced from the price book: {exc}"
            if isinstance(found, Recommendation):
                result.recommendations.append(found)
            else:
                result.skip(target, found)
        return result

    def _stop(
        self,
        instance: Instance,
        account: AccountState,
        ctx: ScanContext[GhostProbeSettings],
        settings: GhostProbeSettings,
        cloudwatch_errors: list[str],
    ) -> Recommendation | str:
        iid, now = instance.instance_id, aware(ctx.now)
        daily = instance.metrics.daily if instance.metrics is not None else ()
        window = judge(daily, now.date(), settings)
        if window.measured < settings.min_measured_days:
            dropped = len(window.partial_days) + len(window.incomplete_days)
            why = f"not enough CloudWatch data ({window.measured} of {window.window_days} days"
            why += f"; {window.no_data_days} without data, {dropped} partial days not counted"
            why += f"; at least {settings.min_measured_days} measured days are needed)"
            if cloudwatch_errors:
                why += f"; CloudWatch could not be read: {cloudwatch_errors[0]}"
            return f"{iid}: {why}"
        if window.low < settings.min_low_days:
            busy = f"{iid} is in use: only {window.low} of {window.measured} measured days were low"
            return f"{busy} (at least {settings.min_low_days} needed); peak CPU {window.peak_cpu or 0:.1f} %"
        hourly = instance_hourly(ctx.prices, instance)
        volumes = attached_volumes(account.volumes, iid)
        storage, costs = storage_monthly(ctx.prices, volumes)
        fusion = signals.running(instance, window, now, len(volumes), settings)
        if fusion.confidence < settings.min_confidence:
            return (
                f"{iid} was idle on {window.low} of {window.measured} days but the confidence "
                f"{fusion.confidence:.2f} is below {settings.min_confidence:g}: {'; '.join(fusion.against())}"
            )
        compute = monthly_from_hourly(hourly)
        prices = report.money(compute, hourly, storage, costs)
        return Recommendation(
            engine=self.name,
            cluster=None,
            target=f"instance/{iid}",
            action=StopInstance(instance_id=iid),
            current_monthly_cost=compute + storage,
            projected_monthly_cost=storage,
            risk=report.stop_risk(instance),
            confidence=fusion.confidence,
            rationale=report.stop_rationale(instance, window, fusion, compute, storage, settings),
            evidence=report.stop_evidence(instance, now, window, fusion, settings, prices),
        )

    def _terminate(
        self,
        instance: Instance,
        account: AccountState,
        ctx: ScanContext[GhostProbeSettings],
        settings: GhostProbeSettings,
    ) -> Recommendation | str:
        iid, now = instance.instance_id, aware(ctx.now)
        if instance.state_since is None:
            return (
                f"{iid} is stopped since an unknown time (AWS gave no stop time); termination is never "
                "proposed without knowing how long it has been stopped"
            )
        stopped_days = max(0.0, (now - aware(instance.state_since)).total_seconds() / 86400)
        if stopped_days < settings.stopped_days_before_terminate:
            return (
                f"{iid} has been stopped for {stopped_days:.0f} days, fewer than "
                f"{settings.stopped_days_before_terminate}; it costs only its storage meanwhile"
            )
        volumes = attached_volumes(account.volumes, iid)
        storage, costs = storage_monthly(ctx.prices, volumes)
        if storage == ZERO:
            return f"{iid} is stopped and no attached volume was found: terminating it would save nothing measurable"
        fusion = signals.stopped(instance, stopped_days, now, len(volumes), settings)
        if fusion.confidence < settings.min_confidence:
            return (
                f"{iid} has been stopped for {stopped_days:.0f} days but the confidence {fusion.confidence:.2f} "
                f"is below {settings.min_confidence:g}: {'; '.join(fusion.against())}"
            )
        prices = report.money(None, None, storage, costs)
        return Recommendation(
            engine=self.name,
            cluster=None,
            target=f"instance/{iid}",
            action=TerminateInstance(instance_id=iid),
            current_monthly_cost=storage,
            projected_monthly_cost=quantize(ZERO),
            risk="high",
            confidence=fusion.confidence,
            rationale=report.terminate_rationale(instance, stopped_days, storage, fusion, settings),
            evidence=report.terminate_evidence(instance, now, stopped_days, fusion, settings, prices),
        )
