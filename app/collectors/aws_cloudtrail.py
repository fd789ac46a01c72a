"""CloudTrail lookup of the last DetachVolume of EBS volumes: when each one was detached, and from
which instance.

Called by `app.services.volume_tracking.track_volumes` (through a `DetachLookupFn` the collection
pipeline builds with `functools.partial(last_detach_times, session, region)`). One paginated
`LookupEvents` query per region (EventName=DetachVolume over the window) serves every volume, instead
of one query per volume. CloudTrail allows 2 LookupEvents requests per second per account and region
(CloudTrail API reference, "LookupEvents"), so requests are paced `MIN_INTERVAL_S` apart, and at most
`MAX_PAGES` pages of 50 events are read (about 10 s). Event history keeps 90 days. Failures never
raise: AccessDenied, rejected credentials, an unreachable endpoint or an unimplemented API come
back as `DetachLookup.error`, which the caller stores in `AccountState.cloudtrail`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError

from app.collectors.aws import aws_errors
from app.collectors.errors import CollectorError, describe_http_error

log = logging.getLogger(__name__)

EVENT_NAME = "DetachVolume"
PAGE_SIZE = 50  # LookupEvents' maximum MaxResults
MAX_PAGES = 20
MIN_INTERVAL_S = 0.5  # 2 requests per second per region
WINDOW_DAYS = 90  # CloudTrail event history retention
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20)


@dataclass(frozen=True)
class Detach:
    detached_at: datetime
    instance_id: str | None


@dataclass(frozen=True)
class DetachLookup:
    """What one lookup found: the last detach of each requested volume that has one in the window;
    `error` says why CloudTrail could not be read (None = read, even if partly when `truncated`)."""

    detaches: dict[str, Detach] = field(default_factory=dict)
    error: str | None = None
    pages: int = 0
    truncated: bool = False


class DetachLookupFn(Protocol):
    """What `track_volumes` calls: `partial(last_detach_times, session, region)` in production."""

    def __call__(self, volume_ids: Sequence[str], *, start: datetime, now: datetime) -> DetachLookup: ...


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return _when(parsed)
    return None


def _resource(event: Mapping[str, Any], kind: str) -> str | None:
    for res in event.get("Resources") or []:
        if res.get("ResourceType") == kind and res.get("ResourceName"):
            return str(res["ResourceName"])
    return None


def parse_detach_event(event: Mapping[str, Any]) -> tuple[str, Detach] | None:
    """(volume id, detach) from one LookupEvents event, or None for a failed call or an unreadable one.

    The CloudTrailEvent document names the volume in requestParameters (the instance only when
    the caller gave one, else in responseElements); a call that failed carries errorCode.
    """
    try:
        record = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        record = {}
    if not isinstance(record, dict) or record.get("errorCode"):
        return None
    request = record.get("requestParameters") or {}
    response = record.get("responseElements") or {}
    volume_id = request.get("volumeId") or response.get("volumeId") or _resource(event, "AWS::EC2::Volume")
    when = _when(record.get("eventTime")) or _when(event.get("EventTime"))
    if not volume_id or when is None:
        return None
    instance_id = request.get("instanceId") or response.get("instanceId") or _resource(event, "AWS::EC2::Instance")
    return str(volume_id), Detach(detached_at=when, instance_id=str(instance_id) if instance_id else None)


def _reason(exc: CollectorError) -> str:
    cause = exc.__cause__
    if isinstance(cause, ClientError):
        error = cause.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        if code.isdigit():  # no AWS error document (a proxy, or an emulator without the API)
            return f"CloudTrail LookupEvents failed ({describe_http_error(int(code), None, message)})"
    return f"CloudTrail LookupEvents failed ({exc.message})"


def last_detach_times(
    session_or_client: Any,
    region: str,
    volume_ids: Sequence[str],
    *,
    start: datetime,
    now: datetime,
    max_pages: int = MAX_PAGES,
    min_interval_s: float = MIN_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DetachLookup:
    """The last DetachVolume of each of `volume_ids` between `start` and `now` (newest event wins).

    `session_or_client`: a boto3 Session (a cloudtrail client for `region` is made) or a
    cloudtrail client. Stops early once every volume is found or after `max_pages` pages
    (`truncated` then says older events were not read).
    """
    wanted = set(volume_ids)
    if not wanted:
        return DetachLookup()
    found: dict[str, Detach] = {}
    pages, token, last_call = 0, None, None
    try:
        with aws_errors(f"aws:{region}:cloudtrail"):
            client = (session_or_client if hasattr(session_or_client, "lookup_events")
                      else session_or_client.client("cloudtrail", region_name=region, config=_CONFIG))
            while pages < max_pages:
                if last_call is not None:  # pace: never more than 1 / min_interval_s requests a second
                    sleep(max(0.0, min_interval_s - (clock() - last_call)))
                kwargs: dict[str, Any] = {
                    "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": EVENT_NAME}],
                    "StartTime": start, "EndTime": now, "MaxResults": PAGE_SIZE,
                }
                if token:
                    kwargs["NextToken"] = token
                last_call = clock()
                resp = client.lookup_events(**kwargs)
                pages += 1
                for event in resp.get("Events") or []:
                    parsed = parse_detach_event(event)
                    if parsed and parsed[0] in wanted and parsed[0] not in found:  # newest first
                        found[parsed[0]] = parsed[1]
                token = resp.get("NextToken")
                if not token or len(found) == len(wanted):
                    break
    except CollectorError as exc:
        reason = _reason(exc)
        log.warning("%s in %s: detach times fall back to first-seen tracking", reason, region)
        return DetachLookup(detaches=found, error=reason, pages=pages)
    truncated = bool(token) and len(found) < len(wanted)
    if truncated:
        log.warning("CloudTrail in %s: stopped after %d pages of DetachVolume events; older ones not read",
                    region, pages)
    return DetachLookup(detaches=found, pages=pages, truncated=truncated)
