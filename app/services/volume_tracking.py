"""How long each EBS volume has been unattached, kept across scans in `volume_sightings`.

Called by the collection pipeline after the AWS collector built an `AccountState` and before the
engines run: `track_volumes` upserts one sighting per volume, asks CloudTrail (once per scan, one
batched lookup) for the last DetachVolume of the volumes whose current unattached stretch was never
looked up, and returns the AccountState with every volume's `unattached_since`, `unattached_source`
and `last_instance_id` filled, which `engines.ebs` reads.

Rules: CloudTrail's detach time beats first sight; a volume never seen attached, with no detach
in a CloudTrail window that covers its creation, is unattached since its create time; otherwise
the first scan that saw it unattached is a lower bound. Seeing a volume attached ends its stretch.
The network call happens between two short transactions (a SQLite writer lock is never held while
waiting on CloudTrail), and inserts use ON CONFLICT DO NOTHING, so two scans at once never fail
on uq_volume_sightings_volume and end with the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.collectors.aws_cloudtrail import WINDOW_DAYS, DetachLookupFn
from app.db import session_scope
from app.db.tables_cloud import VolumeSighting
from engines.snapshot_aws import AccountState, Volume

LOOKUPS_OFF = "CloudTrail lookups are off for this account: unattached ages come from first-seen tracking"
_CHUNK = 500  # volume ids per IN (...) list, well under SQLite's bound-parameter limit
_MUTABLE = ("last_seen_at", "unattached_since", "last_instance_id", "detached_at", "detach_checked_at")


def _attached(volume: Volume) -> bool:
    return bool(volume.attachments) or volume.state == "in-use"


def _load(session: Session, account: AccountState, ids: Sequence[str]) -> dict[str, VolumeSighting]:
    rows: dict[str, VolumeSighting] = {}
    for i in range(0, len(ids), _CHUNK):
        query = select(VolumeSighting).where(
            VolumeSighting.account_id == account.account_id,
            VolumeSighting.region == account.region,
            col(VolumeSighting.volume_id).in_(ids[i:i + _CHUNK]),
        )
        rows.update((row.volume_id, row) for row in session.exec(query))
    return rows


def _insert_missing(session: Session, account: AccountState, volumes: Iterable[Volume], now: datetime) -> None:
    rows = [{
        "account_id": account.account_id, "region": account.region, "volume_id": v.volume_id,
        "first_seen_at": now, "last_seen_at": now,
        "unattached_since": None if _attached(v) else now,
        "last_instance_id": v.attachments[0].instance_id if v.attachments else None,
    } for v in sorted(volumes, key=lambda v: v.volume_id)]  # fmt: skip
    # Sorted: two scans inserting the same rows lock them in the same order (no PostgreSQL deadlock).
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(VolumeSighting).on_conflict_do_nothing(index_elements=["account_id", "region", "volume_id"])
    session.execute(stmt, rows)


def _observe(row: VolumeSighting, volume: Volume, now: datetime) -> None:
    """One more sighting of an existing row: attached ends the stretch, unattached starts one."""
    row.last_seen_at = max(row.last_seen_at, now)
    if _attached(volume):
        row.unattached_since = row.detached_at = row.detach_checked_at = None
        if volume.attachments:
            row.last_instance_id = volume.attachments[0].instance_id
    elif row.unattached_since is None:
        row.unattached_since = now
        row.detached_at = row.detach_checked_at = None


def _save(session: Session, rows: Iterable[VolumeSighting]) -> None:
    params = [{"id": r.id, **{name: getattr(r, name) for name in _MUTABLE}} for r in sorted(rows, key=lambda r: r.id or 0)]
    if params:  # one executemany UPDATE by primary key, not one statement per row
        session.execute(update(VolumeSighting), params)


def _record_sightings(db: Engine, account: AccountState, now: datetime) -> dict[str, VolumeSighting]:
    ids = [v.volume_id for v in account.volumes]
    with session_scope(db) as session:
        existing = _load(session, account, ids)
        new = [v for v in account.volumes if v.volume_id not in existing]
        _insert_missing(session, account, new, now)
        rows = _load(session, account, ids)
        for volume in account.volumes:  # a no-op on the rows just inserted with these values
            _observe(rows[volume.volume_id], volume, now)
        _save(session, rows.values())
        session.expunge_all()
        return rows


def _record_detaches(
    db: Engine, account: AccountState, rows: dict[str, VolumeSighting], ids: list[str],
    lookup: DetachLookupFn, now: datetime, window_days: int,
) -> str | None:
    result = lookup(ids, start=now - timedelta(days=window_days), now=now)
    checked = set(result.detaches) if result.error else set(ids)
    with session_scope(db) as session:
        fresh = _load(session, account, sorted(checked))
        for volume_id in sorted(checked):
            row = fresh.get(volume_id)
            if row is None or row.unattached_since is None or row.detach_checked_at is not None:
                continue  # attached again, or checked by a concurrent scan, in the meantime
            detach = result.detaches.get(volume_id)
            if detach is not None and detach.detached_at <= now:
                row.detached_at = detach.detached_at
                row.last_instance_id = detach.instance_id or row.last_instance_id
            row.detach_checked_at = now
        _save(session, fresh.values())
        session.expunge_all()
    rows.update(fresh)
    return result.error


def _filled(volume: Volume, row: VolumeSighting | None, window_days: int) -> Volume:
    if row is None or _attached(volume) or row.unattached_since is None:
        last = volume.attachments[0].instance_id if volume.attachments else (row.last_instance_id if row else None)
        return volume.model_copy(update={"unattached_since": None, "unattached_source": None,
                                         "last_instance_id": last})
    since, source = row.unattached_since, "first-seen"
    if row.detached_at is not None:
        since, source = row.detached_at, "cloudtrail"
    elif (row.detach_checked_at is not None and row.last_instance_id is None and volume.create_time is not None
          and volume.create_time <= row.first_seen_at
          and volume.create_time >= row.detach_checked_at - timedelta(days=window_days)):
        since, source = volume.create_time, "create-time"
    return volume.model_copy(update={"unattached_since": since, "unattached_source": source,
                                     "last_instance_id": row.last_instance_id})


def track_volumes(
    db: Engine,
    account: AccountState,
    now: datetime,
    *,
    cloudtrail_lookup: DetachLookupFn | None,
    window_days: int = WINDOW_DAYS,
) -> AccountState:
    """Record this scan's sightings and return `account` with every volume's unattached age filled.

    `cloudtrail_lookup(volume_ids, start=, now=)`: normally `partial(last_detach_times, session,
    region)`; None = lookups off (first-seen and tracking only). `AccountState.cloudtrail` is set
    to the reason CloudTrail was not read, or None when it was (or nothing needed looking up).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware UTC")
    rows = _record_sightings(db, account, now)
    pending = sorted(v.volume_id for v in account.volumes
                     if not _attached(v) and rows[v.volume_id].unattached_since is not None
                     and rows[v.volume_id].detach_checked_at is None)
    reason: str | None = None
    if cloudtrail_lookup is None:
        reason = LOOKUPS_OFF
    elif pending:
        reason = _record_detaches(db, account, rows, pending, cloudtrail_lookup, now, window_days)
    volumes = tuple(_filled(v, rows.get(v.volume_id), window_days) for v in account.volumes)
    return account.model_copy(update={"volumes": volumes, "cloudtrail": reason})
