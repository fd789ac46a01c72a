"""The OOMKilled remediation engine: triage each OOM-killed container, then raise its memory limit.

`app.services.scans` (through the engine registry) calls `OomRemediationEngine().scan(snapshot, ctx)`.
It gathers, per owner (Deployment/StatefulSet/DaemonSet) container, the OOM kills in the window from
the pods' last termination, the pod_events history (`ClusterState.terminations`) and kernel OOM
events, and the node-pressure evictions; triages the case from its memory history (`triage.py`);
sizes the new limit with the class's formula and the caps (`settings.py`); and prices and words it
(`report.py`). Recommendations have purpose "reliability": they cost money on purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engines.actions import SetRequestsLimits
from engines.contract import Engine, Recommendation, ScanContext, ScanResult
from engines.oom import report
from engines.oom.settings import OomRemediationSettings
from engines.oom.triage import MIB, Triage, classify
from engines.snapshot import ClusterState, Container, Pod
from engines.snapshot_aws import Snapshot

OWNER_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# Termination reasons and event reasons that mean the kernel killed the container for its memory.
KILLS = frozenset({"OOMKilled", "OOMKilling"})
GIB = 2**30
# The largest EC2 instance (u7in-32tb) has 32 TiB: no sample or limit can be larger when node sizes are unknown.
NO_NODE_BOUND = 32 * 2**40
# runc refuses memory limits under 6 MiB: a smaller one is a typo (e.g. "512" bytes for "512Mi").
MIN_LIMIT = 6 * 2**20
# A kernel event's time and the container status's finishedAt of one kill differ by seconds.
SAME_KILL = timedelta(minutes=2)


def aware(when: datetime | None) -> datetime | None:
    """A naive time is read as UTC (the collectors write UTC); None stays None."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


@dataclass
class Case:
    """Everything known about one owner's container: its pods, kills and evictions in the window."""

    namespace: str
    kind: str
    name: str
    container: str
    pods: dict[str, Pod] = field(default_factory=dict)
    kills: set[tuple[str, datetime | None]] = field(default_factory=set)
    kill_events: int = 0
    evictions: list[tuple[str, datetime | None, str]] = field(default_factory=list)

    def add_kill(self, pod: str, at: datetime | None) -> None:
        """One kill; the same pod's kill seen again within SAME_KILL (its event and its status) counts once."""
        if at is not None and any(p == pod and t is not None and abs(t - at) <= SAME_KILL for p, t in self.kills):
            return
        self.kills.add((pod, at))

    @property
    def target(self) -> str:
        return f"workload/{self.namespace}/{self.kind}/{self.name}/{self.container}"

    def restarts(self) -> int:
        return sum(c.restart_count for p in self.pods.values() for c in p.containers if c.name == self.container)


class _Cases:
    """Collects cases by owner container and refusals for things that have no usable owner."""

    def __init__(self, cluster: ClusterState, since: datetime, result: ScanResult) -> None:
        self.cluster, self.since, self.result = cluster, since, result
        self.pods = {(p.namespace, p.name): p for p in cluster.pods}
        self.cases: dict[tuple[str, str, str, str], Case] = {}
        self.refused: set[str] = set()

    def _case(self, ns: str, kind: str | None, name: str | None, pod: str, container: str) -> Case | None:
        if kind not in OWNER_KINDS or not name:
            target = f"pod/{ns}/{pod}/{container}" if container else f"pod/{ns}/{pod}"
            if target not in self.refused:
                self.refused.add(target)
                owner = f"{kind} {name}" if kind else "no known owner"
                self.result.skip(target, f"OOM or eviction of pod {ns}/{pod} with {owner}: only Deployment, "
                                         "StatefulSet and DaemonSet containers are changed (a bare pod or a "
                                         "Job's limit is set where it is created)")
            return None
        case = self.cases.setdefault((ns, kind, name, container), Case(ns, kind, name, container))
        live = self.pods.get((ns, pod))
        if live is not None:
            case.pods[pod] = live
        return case

    def _containers(self, ns: str, pod: str, container: str, *, whole_pod: bool) -> list[str]:
        """The containers a record or event is about: its own, or (it names none) the pod's killed
        ones, the only one, or for an eviction all of them; [] when that cannot be known."""
        live = self.pods.get((ns, pod))
        if container:
            return [container]
        if live is None:
            return []
        names = [c.name for c in live.containers]
        killed = [c.name for c in live.containers if c.last_termination_reason == "OOMKilled"]
        return names if whole_pod else killed or (names if len(names) == 1 else [])

    def _owner(self, ns: str, pod: str, kind: str | None, name: str | None) -> tuple[str | None, str | None]:
        live = self.pods.get((ns, pod))
        return (live.owner_kind, live.owner_name) if live is not None else (kind, name)

    def _signal(self, ns: str, kind: str | None, name: str | None, pod: str, container: str, kill_at: datetime | None,
                message: str, evicted: bool, evicted_at: datetime | None = None) -> Case | None:
        found = self._case(ns, kind, name, pod, container)
        if found is None:
            return None
        if evicted:
            when = kill_at or evicted_at
            if (pod, when) not in {(p, t) for p, t, _ in found.evictions}:
                found.evictions.append((pod, when, message))
        elif kill_at is not None:
            found.add_kill(pod, kill_at)
        return found

    def gather(self) -> list[Case]:
        for pod in self.cluster.pods:
            for c in pod.containers:
                at = aware(c.last_termination_at)
                if c.last_termination_reason == "OOMKilled" and (at is None or at >= self.since):
                    found = self._case(pod.namespace, pod.owner_kind, pod.owner_name, pod.name, c.name)
                    if found is not None:
                        found.add_kill(pod.name, at)
                        found.pods[pod.name] = pod
        for rec in self.cluster.terminations:
            at = aware(rec.occurred_at)
            evicted = rec.reason == "Evicted"
            if at is None or at < self.since or not (evicted or rec.reason in KILLS):
                continue
            kind, name = self._owner(rec.namespace, rec.pod, rec.owner_kind, rec.owner_name)
            for container in self._containers(rec.namespace, rec.pod, rec.container, whole_pod=evicted):
                self._signal(rec.namespace, kind, name, rec.pod, container, at, rec.message, evicted)
        for event in self.cluster.events:
            at = aware(event.last_seen)
            evicted = event.reason == "Evicted"
            if event.involved_kind != "Pod" or (at is not None and at < self.since) or not (evicted or event.reason in KILLS):
                continue
            kind, name = self._owner(event.namespace, event.involved_name, None, None)
            for container in self._containers(event.namespace, event.involved_name, "", whole_pod=evicted):
                found = self._signal(event.namespace, kind, name, event.involved_name, container, None, event.message,
                                     evicted, at)
                if found is not None and not evicted:
                    found.kill_events += event.count
        return [self.cases[k] for k in sorted(self.cases)]


class OomRemediationEngine(Engine[OomRemediationSettings]):
    """Raises the memory limit of OOM-killed Deployment, StatefulSet and DaemonSet containers, after triage.

    Unlike the VPA's blind bump, each case is classified first: node-pressure evictions and likely
    leaks get a skip that says why a bigger limit would not help; steady peaks get the VPA bump
    (max(reached + 100 MiB, reached x 1.2)); spikes a larger factor; crash loops that die before
    any usage sample still get limit x 2. Every raise is capped and priced as the memory it adds,
    from the node's price split between CPU and RAM, so its savings are negative.
    """

    name = "oom-remediation"
    title = "OOMKilled remediation"
    Settings = OomRemediationSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[OomRemediationSettings]) -> ScanResult:
        result = ScanResult()
        cluster = snapshot.cluster
        if cluster is None:
            return result
        raw = ctx.settings
        settings = raw if isinstance(raw, OomRemediationSettings) else OomRemediationSettings.model_validate(raw.model_dump())
        since = ctx.now - timedelta(days=settings.lookback_days)
        for case in _Cases(cluster, since, result).gather():
            found = self._one(case, cluster, snapshot, ctx, settings, since)
            if isinstance(found, str):
                result.skip(case.target, f"{case.kind} {case.namespace}/{case.name} container {case.container}: {found}")
            else:
                result.recommendations.append(found)
        return result

    def _one(self, case: Case, cluster: ClusterState, snapshot: Snapshot, ctx: ScanContext[OomRemediationSettings],
             s: OomRemediationSettings, since: datetime) -> Recommendation | str:
        kills = max(len(case.kills), case.kill_events)
        if case.evictions and not case.kills and not case.kill_events:
            return report.node_pressure_reason(case)
        if kills < s.min_oom_kills:
            return f"{kills} OOM kill(s) in {s.lookback_days} days, fewer than the {s.min_oom_kills} required"
        spec = _spec(case, cluster)
        if spec is None:
            return "no running pod or pod template shows this container's resources, so there is nothing to raise"
        limit = spec.memory_limit
        node_bound = max((n.capacity.memory or n.allocatable.memory for n in cluster.nodes), default=0) or NO_NODE_BOUND
        if limit is None:
            return ("it has no memory limit, so it was killed by the node's kernel OOM killer, not by a limit; "
                    "raising a limit cannot help: set a memory request that covers its usage")
        if limit < MIN_LIMIT or limit > node_bound:
            return (f"its memory limit {limit} bytes is not a usable value (runc needs at least {MIN_LIMIT} bytes, "
                    f"every node has at most {node_bound}): fix the limit by hand")
        replicas = case.pods.keys() | {p.name for p in cluster.pods if p.namespace == case.namespace
                                       and (p.owner_kind, p.owner_name) == (case.kind, case.name)}
        usage = [u for u in snapshot.usage if u.namespace == case.namespace and u.container == case.container
                 and (u.pod in replicas or (u.workload_kind, u.workload_name) == (case.kind, case.name))]
        triage = classify(usage, limit=limit, restarts=case.restarts(), absurd_bytes=node_bound, since=since, settings=s)
        if isinstance(triage, str):
            return triage
        if triage.kind == "leak" and not s.recommend_for_leaks:
            return report.leak_reason(triage, limit)
        allocatable = max((n.allocatable.memory for n in cluster.nodes), default=0)
        sizing = size(triage, limit, s, allocatable)
        if sizing.new_limit <= limit:
            return f"the caps ({', '.join(sizing.capped_by)}) leave no room above the current limit {limit // MIB} MiB"
        request = new_request(triage, spec.memory_request, sizing.new_limit)
        price = report.memory_price(case, cluster, ctx.prices, s.cpu_to_ram_cost_ratio)
        if isinstance(price, str):
            return price
        current, projected = price.monthly(limit), price.monthly(sizing.new_limit)
        return Recommendation(
            engine=self.name, cluster=cluster.name, target=case.target,
            action=SetRequestsLimits(namespace=case.namespace, workload_kind=case.kind, workload_name=case.name,
                                     container=case.container, cpu_request=spec.cpu_request, cpu_limit=spec.cpu_limit,
                                     memory_request=request, memory_limit=sizing.new_limit),
            current_monthly_cost=current, projected_monthly_cost=projected,
            risk=report.risk(triage, sizing), confidence=report.confidence(triage, sizing), purpose="reliability",
            rationale=report.rationale(case, triage, sizing, spec, request, price, current, projected, kills, s),
            evidence=report.evidence(case, triage, sizing, spec, request, price, kills, s, ctx.now),
        )  # fmt: skip


def _spec(case: Case, cluster: ClusterState) -> Container | None:
    """The container as the owner's template states it (what the executor patches), else as a pod runs it."""
    for wl in cluster.workloads:
        if (wl.namespace, wl.kind, wl.name) == (case.namespace, case.kind, case.name):
            for c in wl.containers:
                if c.name == case.container:
                    return c
    for pod in sorted(case.pods.values(), key=lambda p: p.name):
        for c in pod.containers:
            if c.name == case.container:
                return c
    return None


@dataclass(frozen=True)
class Sizing:
    reached: int
    factor: float
    formula: str
    wanted: int
    new_limit: int
    capped_by: tuple[str, ...]


def size(triage: Triage, limit: int, s: OomRemediationSettings, allocatable: int) -> Sizing:
    """The class's formula, then the caps, rounded to whole MiB (what the executor writes as "NNNMi")."""
    factor = {"limit-too-low": s.bump_factor, "spike": s.spike_factor, "leak": s.bump_factor,
              "crash-loop": s.crash_loop_factor, "no-usage": s.bump_factor}[triage.kind]  # fmt: skip
    # The kill proves the container reached its limit, even when 5-minute samples missed the moment.
    reached = max(limit, int(triage.peak or 0))
    wanted = max(reached + s.min_bump_mib * MIB, math.ceil(reached * factor))
    caps = {"max_increase_factor": int(limit * s.max_increase_factor), "max_limit_gib": int(s.max_limit_gib * GIB)}
    if allocatable > 0:
        caps["largest node allocatable"] = allocatable
    capped_by = tuple(sorted(name for name, cap in caps.items() if cap < wanted))
    bound = min([wanted, *caps.values()])
    new_limit = math.ceil(bound / MIB) * MIB
    if new_limit > bound and capped_by:
        new_limit = bound // MIB * MIB
    what = "limit" if triage.kind in ("crash-loop", "no-usage") else "max(limit, peak)"
    formula = f"max({what} + {s.min_bump_mib} MiB, {what} x {factor:g})"
    return Sizing(reached, factor, formula, wanted, new_limit, capped_by)


def new_request(triage: Triage, request: int | None, new_limit: int) -> int | None:
    """Requests stay unless steady peaks show the container always holds more; never above the limit.

    None stays None: Kubernetes then defaults the request to the new limit, as it did to the old one.
    """
    if request is None:
        return None
    wanted = request
    if triage.kind == "limit-too-low" and triage.median_daily_peak is not None:
        wanted = max(request, math.ceil(triage.median_daily_peak / MIB) * MIB)
    return min(wanted, new_limit)
