"""The office-hours engine: schedules for non-production namespaces that are idle outside office hours.

`app.services.scans` (through the engine registry) calls `OfficeHoursEngine().scan(snapshot, ctx)`.
For every namespace of the cluster it applies the gates (`gates.py`: protected, production, not
marked non-production, bad timezone), builds the hour-of-week CPU profile from `snapshot.usage`,
finds the office hours and runs the idle test (`idle.py`); for a namespace that passes, every
Deployment, StatefulSet and CronJob gets one `ScheduleScale` recommendation priced from its pods'
requests on their nodes (`costs.py`), with the node-level saving that bin packing finds once the
scheduled pods are gone at night (`report.py` words it). Everything else gets a skip with the reason.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from zoneinfo import ZoneInfo

from engines.actions import ScheduleScale
from engines.binpack import BinPackEngine
from engines.binpack.settings import BinPackSettings
from engines.contract import Engine, Recommendation, ScanContext, ScanResult
from engines.money import HOURS_PER_MONTH, ZERO, monthly_from_hourly, quantize
from engines.office_hours import gates, idle, report
from engines.office_hours.costs import Plan, Pricer, pods_of
from engines.office_hours.settings import OfficeHoursSettings
from engines.snapshot import ClusterState, Workload
from engines.snapshot_aws import Snapshot

WEEK_HOURS = Decimal(idle.HOURS_PER_WEEK)


class OfficeHoursEngine(Engine[OfficeHoursSettings]):
    """Recommends office-hours schedules (scale to zero at night and at weekends) for non-production
    namespaces whose CPU outside office hours stays under 10 % of their requests and under 25 % of
    their in-hours median (95th percentile, defaults). Deployments and StatefulSets go to 0 replicas,
    HPA-managed ones get their minReplicas lowered to 1, CronJobs are suspended."""

    name = "office-hours"
    title = "Office-hours scheduler"
    Settings = OfficeHoursSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[OfficeHoursSettings]) -> ScanResult:
        result = ScanResult()
        cluster = snapshot.cluster
        if cluster is None:
            return result
        raw = ctx.settings
        s = raw if isinstance(raw, OfficeHoursSettings) else OfficeHoursSettings.model_validate(raw.model_dump())
        objects = {ns.name: ns for ns in cluster.namespaces}
        names = sorted(set(objects) | {p.namespace for p in cluster.pods} | {w.namespace for w in cluster.workloads})
        pricer = Pricer(cluster, ctx.prices)
        day_saving: Decimal | None = None
        for name in names:
            ns, target = objects.get(name), f"namespace/{name}"
            refusal = gates.namespace_refusal(name, ns, s)
            if refusal is not None:
                result.skip(target, refusal)
                continue
            zone = gates.namespace_timezone(name, ns, s)
            if isinstance(zone, str):
                result.skip(target, zone)
                continue
            workloads = sorted((w for w in cluster.workloads if w.namespace == name and w.kind in gates.SCALABLE_KINDS),
                               key=lambda w: (w.kind, w.name))  # fmt: skip
            if not workloads:
                result.skip(target, f"namespace {name} has no Deployment, StatefulSet or CronJob to schedule")
                continue
            found = self._judge(snapshot, cluster, name, zone, s)
            if isinstance(found, str):
                result.skip(target, f"namespace {name}: {found}")
                continue
            judged = replace(found, because=gates.non_production_because(name, ns, s))
            plans = self._plans(result, cluster, workloads, judged, pricer, s)
            if not plans:
                continue
            if day_saving is None:
                day_saving = _binpack_saving(snapshot, ctx)
            night_saving = _binpack_saving(_without(snapshot, cluster, plans), ctx)
            off_share = Decimal(judged.hours.hours_off_per_week) / WEEK_HOURS
            node = report.NodeLevel(day_saving, night_saving, quantize(max(ZERO, night_saving - day_saving) * off_share))
            for plan in plans:
                result.recommendations.append(self._recommend(cluster, plan, judged, s, node, pricer))
        return result

    def _judge(self, snapshot: Snapshot, cluster: ClusterState, name: str, zone: tuple[str, ZoneInfo],
               s: OfficeHoursSettings) -> idle.Judged | str:  # fmt: skip
        tz_name, tz = zone
        series = [u for u in snapshot.usage if u.namespace == name]
        profile = idle.build_profile(series, tz, s)
        if isinstance(profile, str):
            return profile
        hours = idle.find_window(profile, s)
        if isinstance(hours, str):
            return hours
        requests = sum(c.cpu_request or 0.0 for p in cluster.pods if p.namespace == name and p.phase == "Running"
                       for c in p.containers)  # fmt: skip
        verdict = idle.judge(profile, hours, requests, s)
        if verdict.in_hours_p50 <= 0:
            return ("uses no CPU inside office hours either (median 0 cores): idle all week, so a schedule is "
                    "not the fix; scale it down or remove it")  # fmt: skip
        if not verdict.idle:
            return (f"busy outside office hours ({hours.uptime(tz_name)}): 95th percentile CPU {verdict.off_hours_p95:.3f} "
                    f"cores reaches the idle limit {verdict.limit:.3f} cores, at {verdict.busy_hours}")  # fmt: skip
        return idle.Judged(name, tz_name, tz, series, profile, hours, verdict, requests)

    def _plans(self, result: ScanResult, cluster: ClusterState, workloads: list[Workload], judged: idle.Judged,
               pricer: Pricer, s: OfficeHoursSettings) -> list[Plan]:  # fmt: skip
        hours, profile = judged.hours, judged.profile
        off_month = Decimal(hours.hours_off_per_week) * HOURS_PER_MONTH / WEEK_HOURS
        ns_nodes = sorted({p.node_name for p in cluster.pods
                           if p.namespace == workloads[0].namespace and p.node_name and p.phase == "Running"})  # fmt: skip
        plans = []
        for wl in workloads:
            target = report.target(wl)
            refusal = gates.workload_refusal(wl, s)
            if refusal is not None:
                result.skip(target, refusal)
                continue
            try:
                price = pricer.replica(wl, ns_nodes)
            except LookupError as exc:
                result.skip(target, f"{wl.kind} {wl.namespace}/{wl.name} cannot be priced from the price book: {exc}")
                continue
            hpa = next((h for h in cluster.hpas if h.namespace == wl.namespace and h.target_kind == wl.kind
                        and h.target_name == wl.name), None)  # fmt: skip
            if wl.kind == "CronJob":
                runs = [u for u in judged.series if u.workload_kind == "CronJob" and u.workload_name == wl.name]
                off_week, all_week = idle.run_hours(runs, judged.tz, hours, profile.days)
                if off_week <= 0:
                    result.skip(target, f"CronJob {wl.namespace}/{wl.name}: its jobs ran no pod outside office hours "
                                        "in the history, so suspending it then saves nothing")  # fmt: skip
                    continue
                per_month = HOURS_PER_MONTH / WEEK_HOURS
                current = quantize(price.hourly * Decimal(str(round(all_week, 4))) * per_month)
                saving = quantize(price.hourly * Decimal(str(round(off_week, 4))) * per_month)
                saved = Decimal(str(round(off_week, 4))) / Decimal(hours.hours_off_per_week)
                plans.append(Plan(wl, 0, 0, saved, None, price, current, saving, (off_week, all_week)))
                continue
            replicas = wl.replicas if wl.replicas is not None else len(pods_of(cluster, wl))
            if hpa is not None and hpa.min_replicas <= 1:
                result.skip(target, f"{wl.kind} {wl.namespace}/{wl.name} is scaled by HPA {hpa.name} whose minimum is "
                                    f"already {hpa.min_replicas}: lowering it to 1 at night saves nothing")  # fmt: skip
                continue
            if replicas <= 0:
                result.skip(target, f"{wl.kind} {wl.namespace}/{wl.name} runs no replica; nothing to scale down")
                continue
            # An idle HPA already sits at its minimum at night: only the replicas above 1 are saved.
            saved_int = hpa.min_replicas - 1 if hpa is not None else replicas
            current = monthly_from_hourly(price.hourly, replicas)
            saving = quantize(price.hourly * saved_int * off_month)
            plans.append(Plan(wl, replicas, 1 if hpa else 0, Decimal(saved_int), hpa, price, current, saving))
        return plans

    def _recommend(self, cluster: ClusterState, plan: Plan, judged: idle.Judged, s: OfficeHoursSettings,
                   node: report.NodeLevel, pricer: Pricer) -> Recommendation:  # fmt: skip
        hours, tz_name, profile, wl = judged.hours, judged.tz_name, judged.profile, plan.wl
        action = ScheduleScale(namespace=wl.namespace, workload_kind=wl.kind, workload_name=wl.name, timezone=tz_name,
                               uptime=hours.uptime(tz_name), holidays=s.holidays_country,
                               replicas_off=plan.replicas_off)  # fmt: skip
        confidence = round(profile.coverage * min(1.0, profile.days / 14), 2)
        return Recommendation(
            engine=self.name, cluster=cluster.name, target=report.target(wl), action=action,
            current_monthly_cost=plan.current, projected_monthly_cost=plan.current - plan.saving,
            risk="medium" if wl.kind == "StatefulSet" else "low", confidence=confidence,
            rationale=report.rationale(plan, judged, s, node),
            evidence=report.evidence(plan, judged, s, node, pricer),
        )  # fmt: skip


def _binpack_saving(snapshot: Snapshot, ctx: ScanContext[OfficeHoursSettings]) -> Decimal:
    """Monthly saving bin packing finds on this snapshot (its default settings, saving purpose only)."""
    pack = BinPackEngine().scan(snapshot, ScanContext(prices=ctx.prices, now=ctx.now, settings=BinPackSettings()))
    return sum((r.monthly_savings for r in pack.recommendations if r.purpose == "saving"), ZERO)


def _without(snapshot: Snapshot, cluster: ClusterState, plans: list[Plan]) -> Snapshot:
    """The cluster at night: scheduled pods gone (an HPA-managed workload keeps one)."""
    gone: set[tuple[str, str]] = set()
    for plan in plans:
        pods = pods_of(cluster, plan.wl)
        gone.update((p.namespace, p.name) for p in pods[plan.replicas_off:])
    kept = tuple(p for p in cluster.pods if (p.namespace, p.name) not in gone)
    return snapshot.model_copy(update={"cluster": cluster.model_copy(update={"pods": kept})})
