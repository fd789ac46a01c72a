"""Adds what the engines need beyond one cluster's collection: which instances are nodes of ANY
registered cluster, how long each EBS volume has been unattached (DB sightings + CloudTrail), the
account's own Spot interruption record per pool, and the cluster's container terminations
remembered across scans (pod_events: a pod shows only its last one).

Called by `app.services.collect.collect_cluster` after `build_snapshot`, before the snapshot is
stored and scanned. A part that fails is logged and reported as a degraded source; the snapshot
keeps everything else, so one failing lookup never loses a scan.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import boto3
from sqlalchemy import Engine

from app.collectors.aws_cloudtrail import DetachLookup, DetachLookupFn, last_detach_times
from app.db import session_scope
from app.services.ghost_inputs import cluster_node_instances
from app.services.pod_events import record_terminations, termination_history
from app.services.spot_history import spot_pool_history
from app.services.volume_tracking import track_volumes
from engines.snapshot_aws import Snapshot, SourceError

log = logging.getLogger(__name__)


# The sandbox's whole (simulated) history fits in this window.
SANDBOX_WINDOW_DAYS = 3650
# Terminations older than this are not read back (the OOM engine looks back at most 30 days).
TERMINATION_WINDOW_DAYS = 30


def sandbox_detach_lookup(volume_ids: Any, *, start: datetime, now: datetime) -> DetachLookup:
    """The sandbox's moto has no CloudTrail, and its seeded unattached volumes were never attached:
    the honest answer a trail would give is "no DetachVolume", so their age is their create time
    (the collector read it from the sandbox's created tag) and the evidence says "create-time"."""
    return DetachLookup()


def enrich_snapshot(db: Engine, snapshot: Snapshot, *, sandbox: bool, cloudtrail: bool = True,
                    cloudtrail_window_days: int = 90, cluster_id: int | None = None) -> Snapshot:
    """The snapshot with node instances, volume ages, Spot history and (given the cluster's row id)
    the termination history filled in where they can be."""
    errors = list(snapshot.errors)
    account = snapshot.account
    history = snapshot.spot_history
    if account is not None:
        try:
            own = {n.instance_id for n in snapshot.cluster.nodes if n.instance_id} if snapshot.cluster else set()
            nodes = tuple(sorted(set(cluster_node_instances(db)) | own))
            account = account.model_copy(update={"cluster_node_instances": nodes})
        except Exception as exc:  # the DB hiccupped: engines still see this cluster's own nodes
            log.exception("reading the nodes of every cluster failed")
            errors.append(SourceError(source="db:nodes", message=f"{type(exc).__name__}: {exc}", degraded=True))
        try:
            lookup: DetachLookupFn | None
            window = SANDBOX_WINDOW_DAYS if sandbox else cloudtrail_window_days
            if sandbox:
                lookup = sandbox_detach_lookup
            elif cloudtrail:
                lookup = partial(last_detach_times, boto3.Session(), account.region)
            else:
                lookup = None
            account = track_volumes(db, account, snapshot.collected_at, cloudtrail_lookup=lookup,
                                    window_days=window)
        except Exception as exc:
            log.exception("tracking EBS volumes failed")
            errors.append(SourceError(source="db:volume_sightings", message=f"{type(exc).__name__}: {exc}",
                                      degraded=True))
        try:
            history = spot_pool_history(db, account.region, snapshot.collected_at)
        except Exception as exc:
            log.exception("reading the Spot interruption history failed")
            errors.append(SourceError(source="db:spot_warnings", message=f"{type(exc).__name__}: {exc}",
                                      degraded=True))
    state = snapshot.cluster
    if state is not None and cluster_id is not None:
        try:
            with session_scope(db) as session:
                record_terminations(session, cluster_id, state)
                since = snapshot.collected_at - timedelta(days=TERMINATION_WINDOW_DAYS)
                terminations = termination_history(session, cluster_id, since, pods=state.pods)
            state = state.model_copy(update={"terminations": terminations})
        except Exception as exc:
            log.exception("recording pod terminations failed")
            errors.append(SourceError(source="db:pod_events", message=f"{type(exc).__name__}: {exc}", degraded=True))
    return snapshot.model_copy(update={"account": account, "cluster": state, "spot_history": history,
                                       "errors": tuple(errors)})  # fmt: skip


__all__ = ["enrich_snapshot", "sandbox_detach_lookup"]
