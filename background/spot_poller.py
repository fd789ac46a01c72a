"""The worker's Spot poller thread: SQS long polling into the Spot handler, never dying on bad input.

Started by `background.worker` next to the scan and execution threads, when
`CLOUDOPTIM_AWS__SPOT_QUEUE_URL` is set. With no queue URL the poller is not started and says so
once at start-up: there is nothing to poll, and the rest of the worker runs as usual (the demo
passes its sandbox queue). Each receive waits up to `spot.poll_wait_s` (20 s: AWS's maximum, so
an idle queue costs three calls a minute and a warning is seen the moment it is receivable) for
up to 10 messages; `app.services.spot_handler` records and cordons each, and the messages are
then deleted in one call. A batch is handled off the poller thread (up to BATCHES_IN_FLIGHT at
once), so the next receive starts at once: when a whole pool is interrupted, the tenth node's
warning must not wait for the first nine cordons. A message whose record could not be stored is not deleted: SQS
delivers it again after its visibility timeout. An SQS or network error (a wrong endpoint, a
deleted queue, throttling) is logged and retried after a back-off that doubles up to
`spot.error_backoff_max_s`, and resets after the first good receive.

Stopping: `request_stop` lets running drains park (their rows stay `handling`, and the next
start resumes them while the notice lasts). A receive already waiting cannot be interrupted;
`stop` does not wait for it (nothing is in hand, and any message it returns after the stop is
made visible again at once for the next worker), so a stop takes only as long as the drains need
to park.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import Engine

from app.db.types import utcnow
from app.services.spot_handler import Delivery, Outcome, SpotHandler
from app.settings import Settings

log = logging.getLogger(__name__)
BATCH = 10  # SQS's maximum per receive
BATCHES_IN_FLIGHT = 4  # received batches being handled at once; the next receive waits for a free slot
FIRST_BACKOFF_S = 1.0
_QUEUE_REGION = re.compile(r"sqs[.-]([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)\.")


def queue_region(queue_url: str, default: str) -> str:
    """The region in an SQS URL (https://sqs.eu-west-1.amazonaws.com/...), else `default`."""
    m = _QUEUE_REGION.search(queue_url)
    return m.group(1) if m else default


def sqs_client(settings: Settings, queue_url: str) -> Any:
    # The read timeout must outlast the long poll, or every idle receive would look like an error.
    # Few retries: the poller's own back-off is what handles an outage, and logs it.
    config = Config(
        region_name=queue_region(queue_url, settings.aws.regions[0]),
        connect_timeout=5,
        read_timeout=settings.spot.poll_wait_s + 10,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return boto3.Session().client("sqs", config=config)


class SpotPoller:
    def __init__(
        self, settings: Settings, engine: Engine, *, handler: SpotHandler | None = None, client: Any = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.queue_url = settings.aws.spot_queue_url
        self.enabled = bool(self.queue_url)
        self._handler = handler
        self._client = client
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="spot-poller", daemon=True)
        self._in_receive = False
        self._slots = threading.BoundedSemaphore(BATCHES_IN_FLIGHT)
        self._batches = ThreadPoolExecutor(BATCHES_IN_FLIGHT, thread_name_prefix="spot-batch")
        self._in_flight: set[Future[None]] = set()
        self._flight_lock = threading.Lock()
        self.ready = threading.Event()  # set once the warm-up is done and the first receive is due
        self.errors = 0  # consecutive receive errors (0 = the last receive worked)
        self.received = 0  # messages received since start
        self.backoff_s = 0.0  # the wait after the last error

    @property
    def handler(self) -> SpotHandler:
        if self._handler is None:
            self._handler = SpotHandler(self.settings, self.engine, queue_url=self.queue_url)
        return self._handler

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> bool:
        """Start polling; False (logged once) when no queue URL is configured."""
        if not self.enabled:
            log.info(
                "Spot poller not started: CLOUDOPTIM_AWS__SPOT_QUEUE_URL is empty (no interruption "
                "warnings are handled)"
            )
            return False
        self._client = self._client or sqs_client(self.settings, self.queue_url)
        try:
            self.handler.resume_unfinished()
        except Exception:  # the next start tries again; the poller must still run
            log.exception("Spot: could not resume unfinished warnings")
        self._thread.start()
        log.info("Spot poller started on %s (long poll %d s)", self.queue_url, self.settings.spot.poll_wait_s)
        return True

    def request_stop(self) -> None:
        self._stop.set()
        if self._handler is not None:
            self._handler.request_stop()

    def stop(self, timeout: float) -> bool:
        """Stop; True when the thread and every drain ended (or only an empty receive is left waiting)."""
        self.request_stop()
        began = time.monotonic()
        if self._thread.is_alive():
            while self._thread.is_alive() and not self._in_receive and time.monotonic() - began < timeout:
                self._thread.join(0.05)
        with self._flight_lock:
            batches = list(self._in_flight)
        # A batch still being recorded finishes (its cordons are seconds away); one that does not is
        # not deleted from the queue, so SQS delivers it again to the next worker.
        _done, pending = wait(batches, timeout=max(0.0, timeout - (time.monotonic() - began)))
        self._batches.shutdown(wait=False)
        drains_done = self._handler.stop(max(0.0, timeout - (time.monotonic() - began))) if self._handler else True
        return not pending and drains_done and (not self._thread.is_alive() or self._in_receive)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self.handler.warm_up()
        except Exception:  # an unreachable cluster is retried when a warning names one of its nodes
            log.warning("Spot poller: warm-up failed; carrying on", exc_info=True)
        self.ready.set()
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a bug must not end the thread: log it, back off, carry on
                log.exception("Spot poller: unexpected error")
                self._back_off("unexpected error")

    def poll_once(self) -> int:
        """One receive, its batch handed to a batch thread; returns the messages received (0 after an error)."""
        while not self._slots.acquire(timeout=0.5):  # every batch slot busy: receive nothing more yet
            if self._stop.is_set():
                return 0
        try:
            return self._receive()
        except BaseException:
            self._slots.release()
            raise

    def _receive(self) -> int:
        try:
            self._in_receive = True
            resp = self._client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=BATCH, WaitTimeSeconds=self.settings.spot.poll_wait_s,
                AttributeNames=["ApproximateReceiveCount"])  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            self._slots.release()
            self._back_off(_describe(exc))
            return 0
        finally:
            self._in_receive = False
        received_at = utcnow()
        if self.errors:
            log.info("Spot poller: %s reachable again after %d failed receive(s)", self.queue_url, self.errors)
        self.errors, self.backoff_s = 0, 0.0
        deliveries = [
            Delivery(str(m.get("MessageId", "")), str(m.get("ReceiptHandle", "")), str(m.get("Body", "")))
            for m in resp.get("Messages") or []
        ]
        if not deliveries:
            self._slots.release()
            return 0
        if self._stop.is_set():  # a receive that was waiting when the stop came: hand the batch back
            self._slots.release()
            self._release(deliveries)
            return 0
        self.received += len(deliveries)
        future = self._batches.submit(self._handle_batch, deliveries, received_at)
        with self._flight_lock:
            self._in_flight.add(future)
        future.add_done_callback(self._batch_done)
        return len(deliveries)

    def _handle_batch(self, deliveries: list[Delivery], received_at: datetime) -> None:
        try:
            outcomes = self.handler.handle(deliveries, received_at)
            self._delete([d for d, outcome in outcomes if outcome is not Outcome.NOT_STORED and d.deletable])
        except Exception:  # nothing deleted: SQS delivers the batch again, and stored events are duplicates then
            log.exception("Spot poller: a batch of %d message(s) could not be handled", len(deliveries))

    def _batch_done(self, future: Future[None]) -> None:
        with self._flight_lock:
            self._in_flight.discard(future)
        self._slots.release()

    def _release(self, deliveries: list[Delivery]) -> None:
        """Make messages this stopping poller will not handle visible again at once, so the next
        worker gets them now instead of after the visibility timeout."""
        entries = [{"Id": str(i), "ReceiptHandle": d.receipt, "VisibilityTimeout": 0}
                   for i, d in enumerate(deliveries) if d.deletable]  # fmt: skip
        try:
            if entries:
                self._client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            log.warning("Spot poller: %d message(s) return to the queue after their visibility timeout: %s",
                        len(entries), _describe(exc))  # fmt: skip
        else:
            log.info("Spot poller: stopping; %d message(s) handed back to the queue", len(entries))

    def _delete(self, done: list[Delivery]) -> None:
        if not done:
            return
        entries = [{"Id": str(i), "ReceiptHandle": d.receipt} for i, d in enumerate(done)]
        try:
            resp = self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            # Recorded already: a redelivery is recognised as a duplicate and deleted then.
            log.warning("Spot poller: could not delete %d handled message(s): %s", len(done), _describe(exc))
            return
        for failed in resp.get("Failed") or []:
            log.warning(
                "Spot poller: could not delete message %s: %s",
                done[int(failed["Id"])].message_id,
                failed.get("Message") or failed.get("Code"),
            )

    def _back_off(self, why: str) -> None:
        self.errors += 1
        cap = self.settings.spot.error_backoff_max_s
        self.backoff_s = min(cap, FIRST_BACKOFF_S * 2 ** (self.errors - 1))
        log.warning(
            "Spot poller: receive from %s failed (%s); retry %d in %.0f s",
            self.queue_url,
            why,
            self.errors,
            self.backoff_s,
        )
        self._stop.wait(self.backoff_s)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
