"""The cross-AZ network engine: price the bytes that cross zones and keep them in-zone.

`app.services.scans` (through the engine registry) calls `CrossAzEngine().scan(snapshot, ctx)`.
It builds the workload-to-destination byte matrix (`matrix.build`), prices each pair's expected
cross-zone bytes with the price book's inter-AZ price (x2: out of one AZ and into the other), and
per destination either recommends Service `trafficDistribution` (every zone with clients has
endpoints), or co-location of chatty pairs (`affinity.co_locate`), or says why not.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from engines.actions import SetTrafficDistribution
from engines.contract import Engine, Recommendation, ScanContext, ScanResult
from engines.crossaz import report
from engines.crossaz.affinity import co_locate, opted_out
from engines.crossaz.matrix import Matrix, Unknown, build, shares
from engines.crossaz.settings import CrossAzSettings
from engines.money import ZERO
from engines.snapshot import ClusterState
from engines.snapshot_aws import Snapshot

NAME = "cross-az"


class CrossAzEngine(Engine[CrossAzSettings]):
    """Finds traffic that crosses availability zones and keeps it in-zone.

    Workload-to-workload bytes come from the traffic source (traffic.csv, or Istio/Cilium metrics in
    Prometheus); pods map to zones through their nodes. A client pod crosses zones with probability
    1 - (endpoints in its zone / all endpoints); each crossing GB costs the region's inter-AZ price in
    each direction. A Service whose endpoints cover every zone that has clients gets
    trafficDistribution (same-zone routing removes that crossing); a chatty pair it cannot fix (a zone
    without endpoints, a single-zone destination, pod-to-pod traffic) gets a preferred pod-affinity
    term on the client. Edges naming unknown workloads or Services are counted and skipped.
    """

    name = NAME
    title = "Cross-AZ network traffic"
    Settings = CrossAzSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[CrossAzSettings]) -> ScanResult:
        result = ScanResult()
        raw = ctx.settings
        # The registry builds our own Settings; a foreign model (e.g. from a stored form) is re-read.
        settings = raw if isinstance(raw, CrossAzSettings) else CrossAzSettings.model_validate(raw.model_dump())
        cluster = snapshot.cluster
        if cluster is None:
            result.skip("snapshot", "the snapshot has no Kubernetes cluster: no pods, zones or Services to route")
            return result
        target = f"cluster/{cluster.name}"
        if not snapshot.traffic:
            failed = [e for e in snapshot.errors if "traffic" in e.source or "istio" in e.message.lower()]
            why = f" (the traffic source failed: {failed[0].message})" if failed else ""
            result.skip(target, "no traffic data: cross-zone cost cannot be measured without a traffic source "
                                f"(traffic.csv or Prometheus service-mesh metrics){why}")
            return result
        try:
            price = ctx.prices.inter_az_per_gb(cluster.region)
        except LookupError as exc:
            result.skip(target, f"no inter-AZ transfer price for region {cluster.region}: {exc}")
            return result
        matrix = build(cluster, snapshot.traffic)
        self._left_out(result, target, matrix)
        opted_ns = {n.name for n in cluster.namespaces if opted_out(n.annotations, settings.opt_out_annotation)}
        facts = report.price_facts(cluster.region, price)
        same_zone = np.array([d.prefers_same_zone for d in matrix.destinations], dtype=bool)
        share = shares(matrix, same_zone)
        routed = shares(matrix, np.ones(len(matrix.destinations), dtype=bool))  # with same-zone routing
        cross = matrix.flow_bytes * share
        # Grouped by destination, largest crossing first, ties by client (sources are sorted by name).
        order = np.lexsort((matrix.flow_src, -cross, matrix.flow_dst))
        starts = np.flatnonzero(np.r_[True, np.diff(matrix.flow_dst[order]) != 0])
        for rows in np.split(order, starts[1:]) if len(order) else []:
            dest = matrix.destinations[int(matrix.flow_dst[rows[0]])]
            group = report.Group(matrix, dest, rows, share)
            after = float((matrix.flow_bytes[rows] * routed[rows]).sum())
            self._destination(result, cluster, group, after, price, facts, opted_ns, settings)
        reached = {(d.namespace, d.name) for d in matrix.destinations if d.kind == "service"}
        for svc in sorted(cluster.services, key=lambda s: (s.namespace, s.name)):
            if (svc.namespace, svc.name) not in reached:
                result.skip(f"service/{svc.namespace}/{svc.name}", "no traffic to this Service in the traffic data")
        return result

    def _destination(
        self,
        result: ScanResult,
        cluster: ClusterState,
        group: report.Group,
        after: float,
        price: Decimal,
        facts: dict[str, object],
        opted_ns: set[str],
        settings: CrossAzSettings,
    ) -> None:
        dest = group.dest
        target = f"{dest.kind}/{dest.namespace}/{dest.name}"
        svc = dest.service
        what = f"Service {dest.namespace}/{dest.name}" if svc else f"workload {dest.namespace}/{dest.name}"
        if svc is not None and (opted_out(svc.annotations, settings.opt_out_annotation) or dest.namespace in opted_ns):
            result.skip(target, f"{what} is opted out ({settings.opt_out_annotation})")
            return
        if svc is not None and svc.type == "ExternalName":
            result.skip(target, f"{what} is ExternalName: a DNS alias with no endpoints to route")
            return
        if svc is not None and not svc.selector:
            result.skip(target, f"{what} has no selector (endpoints managed by hand): their zones are unknown")
            return
        if dest.endpoints == 0:
            result.skip(target, f"{what} has no running endpoints in the snapshot: its traffic cannot be placed in zones")
            return
        current = report.monthly_cost(group.cross_bytes_per_day, price)
        if current <= ZERO:
            result.skip(target, f"{what}: its clients and endpoints share zones, no cross-zone traffic expected "
                                f"(endpoints: {report.zones_text(dest.zones)})")
            return
        evidence = {**facts, **report.destination_facts(group, price, settings.top_pairs)}
        missing = [z for z in group.client_pods() if not dest.zones.get(z)]
        if svc is None:
            why = "The traffic goes pod to pod, not through a Service, so trafficDistribution does not apply."
            head = f"{what} is reached pod to pod without a Service: trafficDistribution does not apply"
        elif svc.traffic_distribution is not None:
            why = (f"The Service already has trafficDistribution {svc.traffic_distribution}, yet clients in "
                   f"{', '.join(missing)} have no local endpoint.")
            head = f"{what} already has trafficDistribution {svc.traffic_distribution}"
        elif missing:
            why = (f"{report.zones_phrase(missing).capitalize()} clients but no endpoints, so trafficDistribution "
                   "would still send them across.")
            head = (f"{report.zones_phrase(missing)} clients but no endpoints: "
                    f"{settings.traffic_distribution} would still send them across")
        else:
            self._distribution(result, cluster, group, current, after, price, evidence, settings)
            return
        outcome = co_locate(engine=self.name, cluster=cluster.name, group=group, why=why,
                            opted_out_namespaces=opted_ns, price=price, facts=evidence, settings=settings)
        result.recommendations.extend(outcome.recommendations)
        rest = outcome.summary(settings.chatty_pair_min_monthly_usd)
        result.skip(target, f"{head} (cross-zone cost ${current}/month)" + (f"; {rest}" if rest else ""))

    def _distribution(
        self,
        result: ScanResult,
        cluster: ClusterState,
        group: report.Group,
        current: Decimal,
        after: float,
        price: Decimal,
        evidence: dict[str, object],
        settings: CrossAzSettings,
    ) -> None:
        dest = group.dest
        target = f"service/{dest.namespace}/{dest.name}"
        # `after`: bytes still crossing with same-zone routing, which keeps a client in a zone with
        # endpoints local; here every client zone has some, so it is computed as 0, not assumed.
        projected = report.monthly_cost(after, price)
        saving = current - projected
        if saving < settings.savings_floor_monthly_usd:
            result.skip(target, f"Service {dest.namespace}/{dest.name}: trafficDistribution would save ${saving}/month, "
                                f"below the ${settings.savings_floor_monthly_usd}/month floor")
            return
        hot = report.overloaded(group, settings.overload_ratio)
        value = settings.traffic_distribution
        evidence.update(
            recommended_value=value,
            overloaded_zones=hot,
            overload_ratio=settings.overload_ratio,
            savings_floor_monthly_usd=str(settings.savings_floor_monthly_usd),
            savings_monthly_usd=str(saving),
            projection="clients in zones with endpoints stay in-zone (kube-proxy prefers local endpoints)",
        )
        result.recommendations.append(
            Recommendation(
                engine=self.name,
                cluster=cluster.name,
                target=target,
                action=SetTrafficDistribution(namespace=dest.namespace, service=dest.name, value=value),
                current_monthly_cost=current,
                projected_monthly_cost=projected,
                risk="medium" if hot else "low",
                confidence=0.6 if hot else 0.8,
                rationale=report.distribution_rationale(group, value, saving, hot),
                evidence=evidence,
            )
        )

    @staticmethod
    def _left_out(result: ScanResult, target: str, matrix: Matrix) -> None:
        """One skip per kind of unusable edge, however many edges (a matrix may hold thousands)."""
        kinds: list[tuple[Unknown, str]] = [
            (matrix.unknown_source, "name a client workload with no pods in the snapshot"),
            (matrix.unzoned_source, "come from workloads with no running pod on a node with a zone"),
            (matrix.unknown_destination, "name a destination that is neither a Service nor a workload in the snapshot"),
        ]
        for unknown, why in kinds:
            if unknown.edges:
                more = f" and {unknown.edges - len(unknown.examples)} more" if unknown.edges > len(unknown.examples) else ""
                result.skip(target, f"{unknown.edges} traffic edge(s) ({report.gib(unknown.bytes_per_day):g} GiB/day) "
                                    f"{why} and were left out: {', '.join(unknown.examples)}{more}")
        if matrix.unzoned_pods:
            result.skip(target, f"{matrix.unzoned_pods} running pod(s) are on nodes without a zone label "
                                "(or not in the snapshot): their traffic is not counted")
