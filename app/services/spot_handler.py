"""The Spot pipeline's entry point: one received SQS batch in, every message handled or quarantined.

Called by the worker's Spot poller (`background.spot_poller`) with each batch. Every message
gets a thread of the fast pool: parse (`spot_events`), store the row (`spot_store`; a stored
event id is a duplicate, handled once), find the node (`spot_clusters`), decide (a rebalance
recommendation per `settings.spot.rebalance_policy`) and cordon (`spot_actions`). `handle`
returns once every message of the batch is recorded, with the messages that may be deleted:
all but those whose record could not be stored (the database was unreachable), which SQS then
delivers again. The replacement launch and the drain continue on the drain pool, many nodes at
once, and are recorded in the row as they end.

`resume_unfinished` (at poller start) picks up rows a stopped worker left received or handling:
it finishes those whose notice still runs and fails the others, saying why.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine

from app.db.states import SpotWarningStatus
from app.db.types import utcnow
from app.pricing.catalog import PriceCatalog, load_price_book
from app.services import spot_store as store
from app.services.spot_actions import SpotActions
from app.services.spot_clusters import ClusterDirectory
from app.services.spot_events import SpotEvent, SpotEventKind, Unreadable, parse_message
from app.services.spot_replacement import TYPE_LABEL, CandidateBook
from app.settings import Settings
from executor import k8s_util as k

log = logging.getLogger(__name__)
FAST_WORKERS = 40  # one per message of every batch the poller may have in flight (4 x 10)
DRAIN_WORKERS = 64  # nodes drained at once; a mass interruption must not queue drains behind others


class Outcome(StrEnum):
    HANDLING = "handling"  # cordoned; replacement and drain under way
    RECORDED = "recorded"  # a rebalance recommendation the policy only records
    IGNORED = "ignored"  # the instance is no node of a registered cluster
    DUPLICATE = "duplicate"
    STATE_CHANGE = "state-change"
    QUARANTINED = "quarantined"
    FAILED = "failed"  # stored, but the cordon failed (the row says why)
    NOT_STORED = "not-stored"  # the database refused: keep the message, SQS redelivers it


@dataclass(frozen=True)
class Delivery:
    """One received SQS message."""

    message_id: str
    receipt: str
    body: str

    @property
    def deletable(self) -> bool:
        return bool(self.receipt)


class SpotHandler:
    def __init__(
        self, settings: Settings, db: Engine, *, queue_url: str = "", prices: PriceCatalog | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        self.queue_url = queue_url
        self._stop = threading.Event()
        self.clusters = ClusterDirectory(settings, db)
        self.book = CandidateBook(prices or load_price_book(settings.pricing_dir))
        self.actions = SpotActions(settings, db, self.book, self._stop.is_set)
        self._fast = ThreadPoolExecutor(FAST_WORKERS, thread_name_prefix="spot-event")
        self._drains = ThreadPoolExecutor(DRAIN_WORKERS, thread_name_prefix="spot-drain")
        self._running: set[Future[None]] = set()
        self._lock = threading.Lock()

    # -- a batch ---------------------------------------------------------------------------------

    def handle(self, deliveries: list[Delivery], received_at: datetime | None = None) -> list[tuple[Delivery, Outcome]]:
        """Record every message of a batch (cordons included); returns each with its outcome."""
        when = received_at or utcnow()
        futures = [self._fast.submit(self._one, d, when) for d in deliveries]
        return [(d, f.result()) for d, f in zip(deliveries, futures, strict=True)]

    def _one(self, delivery: Delivery, received_at: datetime) -> Outcome:
        try:
            parsed = parse_message(delivery.body)
            if isinstance(parsed, Unreadable):
                store.quarantine(
                    self.db,
                    queue_url=self.queue_url,
                    message_id=delivery.message_id,
                    reason=parsed.reason,
                    body=delivery.body,
                )
                log.warning("Spot: quarantined message %s: %s", delivery.message_id, parsed.reason)
                return Outcome.QUARANTINED
            if parsed.kind is SpotEventKind.STATE_CHANGE:
                row_id = store.record_state_change(self.db, parsed)
                log.info(
                    "Spot: instance %s is %s%s",
                    parsed.instance_id,
                    parsed.state,
                    "" if row_id else " (no warning of it: not stored)",
                )
                return Outcome.STATE_CHANGE
            return self._warning(parsed, received_at)
        except Exception:  # e.g. the database is unreachable: the message stays in the queue
            log.exception("Spot: message %s could not be recorded; it stays in the queue", delivery.message_id)
            return Outcome.NOT_STORED

    def _warning(self, event: SpotEvent, received_at: datetime) -> Outcome:
        row = store.record_event(self.db, event, received_at, deadline=event.kind is SpotEventKind.WARNING)
        if row is None:
            log.info("Spot: event %s (%s) was already handled", event.event_id, event.instance_id)
            return Outcome.DUPLICATE
        return self._act(row, event.kind)

    def _act(self, row: store.WarningRow, kind: SpotEventKind) -> Outcome:
        located = self.clusters.locate(row.instance_id, row.region)
        if located is None:
            store.update(
                self.db,
                row.id,
                status=SpotWarningStatus.IGNORED,
                message=f"instance {row.instance_id} is no node of a registered cluster",
            )
            log.info("Spot: %s is no node of a registered cluster; ignored", row.instance_id)
            return Outcome.IGNORED
        if kind is SpotEventKind.REBALANCE and (why := self._only_record(row, located.node)):
            store.update(
                self.db,
                row.id,
                status=SpotWarningStatus.RECORDED,
                cluster_id=located.clients.cluster_id,
                node_name=str(k.meta(located.node)["name"]),
                message=why,
            )
            return Outcome.RECORDED
        incident = self.actions.incident(row, located)
        try:
            self.actions.cordon(incident)
        except Exception as exc:
            log.warning("Spot: cordon of %s failed: %s", incident.node_name, exc)
            store.update(self.db, row.id, status=SpotWarningStatus.FAILED, message=f"cordon failed: {exc}")
            return Outcome.FAILED
        with self._lock:
            future = self._drains.submit(self.actions.replace_and_drain, incident)
            self._running.add(future)
        future.add_done_callback(self._done)
        return Outcome.HANDLING

    def _only_record(self, row: store.WarningRow, node: k.Obj) -> str | None:
        """Why a rebalance recommendation is only recorded, or None to act on it."""
        policy = self.settings.spot.rebalance_policy
        if policy == "act":
            return None
        if policy == "record":
            return "rebalance recommendation recorded (policy: record)"
        instance_type = str((k.meta(node).get("labels") or {}).get(TYPE_LABEL, ""))
        bucket = self.book.bucket(row.region or self._node_region(node), instance_type)
        floor = self.settings.spot.rebalance_act_min_bucket
        if bucket is not None and bucket >= floor:
            return None
        said = "unknown" if bucket is None else str(bucket)
        return (
            f"rebalance recommendation recorded (policy: act-high-risk): the Spot Advisor bucket of "
            f"{instance_type or 'the instance type'} is {said}, below {floor}"
        )

    @staticmethod
    def _node_region(node: k.Obj) -> str:
        return str((k.meta(node).get("labels") or {}).get("topology.kubernetes.io/region", ""))

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._running.discard(future)

    # -- restart and stop ------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Build the cluster clients, the node index and the regions' Spot candidates ahead of the
        first warning: together they cost about a second, which the notice should not pay."""
        for region in self.clusters.refresh():
            self.book.table(region)

    def resume_unfinished(self) -> int:
        """Resume rows a stopped worker left unfinished while their notice lasts; fail the rest."""
        resumed = 0
        now = utcnow()
        for row in store.unfinished(self.db):
            ends = row.deadline_at or row.received_at + timedelta(seconds=self.settings.executor.drain_timeout_s)
            if ends <= now:
                store.update(
                    self.db,
                    row.id,
                    status=SpotWarningStatus.FAILED,
                    handled_in_notice=False,
                    message=f"the worker stopped while handling it and the notice ended at {ends.isoformat()}",
                )
                continue
            kind = SpotEventKind.WARNING if row.deadline_at is not None else SpotEventKind.REBALANCE
            self._fast.submit(self._act, row, kind)
            resumed += 1
        if resumed:
            log.warning("Spot: resuming %d warning(s) a stopped worker left unfinished", resumed)
        return resumed

    def busy(self) -> int:
        """Replacements and drains still running."""
        with self._lock:
            return len(self._running)

    def request_stop(self) -> None:
        """Running drains park at their next check; the rows stay `handling` for the next start."""
        self._stop.set()

    def stop(self, timeout: float) -> bool:
        """Stop and wait up to `timeout` for running drains; True when none is left."""
        self.request_stop()
        with self._lock:
            running = list(self._running)
        _done, pending = wait(running, timeout=timeout)
        self._fast.shutdown(wait=False, cancel_futures=True)
        self._drains.shutdown(wait=False, cancel_futures=True)
        if not pending:
            self.clusters.close()
        return not pending
