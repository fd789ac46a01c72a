"""The EBS cleanup engine: snapshot-then-delete volumes unattached past a grace period, and
gp2-to-gp3 for attached gp2 volumes.

`app.services.scans` (through the engine registry) calls `EbsCleanupEngine().scan(snapshot, ctx)`.
It reads `snapshot.account.volumes`, whose `unattached_since` / `unattached_source` were filled by
`app.services.volume_tracking` (DB sightings across scans, CloudTrail's last DetachVolume), prices
each volume from the price book (`pricing.py`) and writes the words with `report.py`. Every volume
it does not recommend is skipped with the reason.
"""

from __future__ import annotations

from engines.actions import ModifyVolumeType, SnapshotAndDeleteVolume
from engines.contract import Engine, Recommendation, ScanContext, ScanResult
from engines.ebs import report
from engines.ebs.pricing import gp3_match, price_of
from engines.ebs.settings import EbsCleanupSettings
from engines.money import ZERO, quantize
from engines.snapshot_aws import AccountState, Snapshot, Volume

NAME = "ebs-cleanup"


class EbsCleanupEngine(Engine[EbsCleanupSettings]):
    """Finds EBS volumes that cost money and serve nothing, and gp2 volumes cheaper as gp3.

    An unattached volume ("available", no attachments) unattached for longer than the grace
    period gets snapshot-then-delete, unless a keep tag protects it; how long it has been
    unattached comes from CloudTrail's last DetachVolume when available, else from the first scan
    that saw it unattached (a lower bound). An attached gp2 volume gets a change to gp3 priced with
    the IOPS and throughput that match gp2, when that is cheaper. Snapshot storage is not priced:
    the price file has no snapshot price, and the evidence says so.
    """

    name = NAME
    title = "Unattached EBS cleanup and gp2 to gp3"
    Settings = EbsCleanupSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[EbsCleanupSettings]) -> ScanResult:
        result = ScanResult()
        raw = ctx.settings
        # The registry builds our own Settings; a foreign model (e.g. from a stored form) is re-read.
        settings = raw if isinstance(raw, EbsCleanupSettings) else EbsCleanupSettings.model_validate(raw.model_dump())
        account = snapshot.account
        if account is None:
            result.skip("account", "the snapshot has no AWS account, so there are no EBS volumes to check")
            return result
        if not account.volumes:
            result.skip(f"account/{account.account_id}", f"no EBS volumes in {account.region}")
            return result
        for volume in sorted(account.volumes, key=lambda v: v.volume_id):
            unattached = volume.state == "available" and not volume.attachments
            if unattached:
                self._cleanup(result, volume, account, ctx, settings)
            elif volume.state == "in-use" or volume.attachments:
                self._gp3(result, volume, ctx, settings)
            else:
                result.skip(_target(volume), f"{volume.volume_id} is {volume.state}, neither unattached nor in use")
        return result

    def _cleanup(
        self,
        result: ScanResult,
        volume: Volume,
        account: AccountState,
        ctx: ScanContext[EbsCleanupSettings],
        settings: EbsCleanupSettings,
    ) -> None:
        target = _target(volume)
        kept = report.keep_tag(volume.tags, settings.keep_tags)
        if kept is not None:
            result.skip(target, f"{volume.volume_id} is unattached but tagged {kept}, a keep tag: not deleted")
            return
        if volume.unattached_since is None or volume.unattached_source is None:
            why = f" ({account.cloudtrail})" if account.cloudtrail else ""
            result.skip(target, f"{volume.volume_id} is unattached, but since when is not known yet{why}; "
                                "it is checked again after the next scan has tracked it")
            return
        days = report.age_days(volume.unattached_since, ctx.now)
        if days < settings.grace_period_days:
            result.skip(target, f"{volume.volume_id} unattached for {days} days, grace period "
                                f"{settings.grace_period_days} days ({volume.unattached_source})")
            return
        try:
            price = price_of(ctx.prices, volume)
        except LookupError as exc:
            result.skip(target, f"{volume.volume_id} cannot be priced: {_reason(exc)}")
            return
        if price.monthly < settings.savings_floor_monthly_usd or price.monthly <= ZERO:
            result.skip(target, f"{volume.volume_id} costs ${price.monthly} a month, below the "
                                f"${settings.savings_floor_monthly_usd} savings floor")
            return
        k8s = report.kubernetes_origin(volume)
        result.recommendations.append(
            Recommendation(
                engine=self.name,
                cluster=None,
                target=target,
                action=SnapshotAndDeleteVolume(volume_id=volume.volume_id),
                current_monthly_cost=price.monthly,
                projected_monthly_cost=quantize(ZERO),
                risk=report.cleanup_risk(k8s),
                confidence=report.cleanup_confidence(volume.unattached_source, days, settings.grace_period_days,
                                                     settings.old_age_factor, k8s),
                rationale=report.cleanup_rationale(volume, price, days, settings.grace_period_days, k8s),
                evidence=report.cleanup_evidence(volume, price, days, settings.grace_period_days, k8s,
                                                 account.cloudtrail),
            )
        )

    def _gp3(
        self, result: ScanResult, volume: Volume, ctx: ScanContext[EbsCleanupSettings], settings: EbsCleanupSettings
    ) -> None:
        target = _target(volume)
        if volume.volume_type != "gp2":
            result.skip(target, f"{volume.volume_id} is attached and {volume.volume_type}: only unattached volumes "
                                "and gp2-to-gp3 changes are checked")
            return
        if not settings.recommend_gp3:
            result.skip(target, f"{volume.volume_id} is attached gp2; gp2-to-gp3 recommendations are off")
            return
        try:
            now_price = price_of(ctx.prices, volume)
            gp3 = gp3_match(ctx.prices, volume)
        except LookupError as exc:
            result.skip(target, f"{volume.volume_id} cannot be priced as gp2 and gp3: {_reason(exc)}")
            return
        saving = now_price.monthly - gp3.monthly
        if saving <= ZERO:
            result.skip(target, f"{volume.volume_id} as gp3 with {gp3.iops} IOPS and {gp3.throughput_mibps} MiB/s "
                                f"(matching gp2) costs ${gp3.monthly} a month, not less than ${now_price.monthly} as gp2")
            return
        if saving < settings.savings_floor_monthly_usd:
            result.skip(target, f"{volume.volume_id} would save ${saving} a month as gp3, below the "
                                f"${settings.savings_floor_monthly_usd} savings floor")
            return
        extra = bool(set(gp3.parts) - {"storage"})
        result.recommendations.append(
            Recommendation(
                engine=self.name,
                cluster=None,
                target=target,
                action=ModifyVolumeType(volume_id=volume.volume_id, from_type="gp2", to_type="gp3"),
                current_monthly_cost=now_price.monthly,
                projected_monthly_cost=gp3.monthly,
                # Online and reversible (after AWS's 6-hour cooldown); riskier when gp3 needs
                # provisioned performance the type change alone does not set.
                risk="medium" if extra else "low",
                confidence=0.8 if extra else 0.9,
                rationale=report.gp3_rationale(volume, now_price, gp3),
                evidence=report.gp3_evidence(volume, now_price, gp3),
            )
        )


def _target(volume: Volume) -> str:
    return f"volume/{volume.volume_id}"


def _reason(exc: LookupError) -> str:
    # KeyError wraps its message in quotes; the price book's own errors read as sentences.
    return str(exc.args[0]) if exc.args else type(exc).__name__
