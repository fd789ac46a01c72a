"""Read one SQS message body as the EventBridge event the Spot pipeline handles, or say why not.

Called by the Spot handler (`app.services.spot_handler`) for every message the worker's Spot
poller receives. Three EC2 detail types are read: the Spot interruption warning (two minutes'
notice), the rebalance recommendation (elevated risk, no deadline) and the instance state-change
notification. Anything else comes back as `Unreadable` with a reason that names what the body
was (bad or truncated JSON, a Lambda SQS or SNS envelope, another source or detail type, a
missing instance id), so it can be quarantined instead of lost or received forever.

AWS's own documentation examples carry placeholders (`"time": "yyyy-mm-ddThh:mm:ssZ"`,
`"instance-action": "action"`): an unreadable time is tolerated (the deadline then counts from
when the message was received, and `notes` says so) because acting on a real warning with a
slightly early deadline is better than ignoring it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE = "EC2 Instance Rebalance Recommendation"
STATE_CHANGE = "EC2 Instance State-change Notification"
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
_ARN_INSTANCE = re.compile(r":instance/(i-[0-9a-f]{8,17})$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
MAX_EVENT_ID = 100  # the spot_warnings.event_id column


class SpotEventKind(StrEnum):
    WARNING = "warning"
    REBALANCE = "rebalance"
    STATE_CHANGE = "state-change"


_KINDS = {WARNING: SpotEventKind.WARNING, REBALANCE: SpotEventKind.REBALANCE, STATE_CHANGE: SpotEventKind.STATE_CHANGE}


@dataclass(frozen=True)
class SpotEvent:
    event_id: str
    kind: SpotEventKind
    detail_type: str
    instance_id: str
    region: str  # "" when the envelope names none (the handler then searches every cluster)
    event_time: datetime | None  # None: unreadable, see notes
    instance_action: str | None  # warnings: terminate | stop | hibernate
    state: str | None  # state changes: pending | running | stopping | stopped | shutting-down | terminated
    raw: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unreadable:
    """Not an event the pipeline handles; `reason` is stored with the quarantined message."""

    reason: str


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None  # a naive time has no meaning here


def _envelope_kind(doc: dict[str, Any]) -> str | None:
    """What a non-EventBridge body looks like, for the quarantine reason."""
    records = doc.get("Records")
    if isinstance(records, list):
        sources = sorted({str(r.get("eventSource")) for r in records if isinstance(r, dict)})
        return (
            f"a Lambda event envelope (Records from {', '.join(sources) or 'unknown source'}), not an EventBridge "
            "event: deliver the EventBridge rule straight to the queue"
        )
    if doc.get("Type") == "Notification" and "TopicArn" in doc:
        return "an SNS notification envelope, not an EventBridge event: enable raw message delivery or target the queue"
    return None


def _instance_id(detail: dict[str, Any], resources: object) -> str | None:
    value = detail.get("instance-id")
    if isinstance(value, str) and _INSTANCE_ID.match(value):
        return value
    for arn in resources if isinstance(resources, list) else []:
        if isinstance(arn, str) and (m := _ARN_INSTANCE.search(arn)):
            return m.group(1)
    return None


def parse_message(body: str) -> SpotEvent | Unreadable:
    """The event in one SQS message body, or why it is none the pipeline handles."""
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        cut = " (truncated?)" if exc.pos >= len(body.rstrip()) - 1 else ""
        return Unreadable(f"not JSON: {exc.msg} at character {exc.pos}{cut}")
    if not isinstance(doc, dict):
        return Unreadable(f"not an EventBridge event: the body is a JSON {type(doc).__name__}, not an object")
    if envelope := _envelope_kind(doc):
        return Unreadable(envelope)
    missing = [key for key in ("id", "source", "detail-type", "detail") if key not in doc]
    if missing:
        return Unreadable(f"not an EventBridge event: no {', '.join(repr(m) for m in missing)}")
    source, detail_type, detail = doc["source"], doc["detail-type"], doc["detail"]
    if source != "aws.ec2":
        return Unreadable(f"foreign event: source {str(source)[:100]!r}, detail type {str(detail_type)[:100]!r}")
    if detail_type not in _KINDS:
        return Unreadable(
            f"foreign event: EC2 detail type {str(detail_type)[:100]!r} is not one the Spot pipeline handles"
        )
    event_id = doc["id"]
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID:
        return Unreadable(f"{detail_type}: event id {str(event_id)[:120]!r} is not a usable id")
    if not isinstance(detail, dict):
        return Unreadable(f"{detail_type}: 'detail' is a {type(detail).__name__}, not an object")
    instance_id = _instance_id(detail, doc.get("resources"))
    if instance_id is None:
        return Unreadable(f"{detail_type}: no EC2 instance id in detail.instance-id or resources")
    notes = []
    event_time = _parse_time(doc.get("time"))
    if event_time is None:
        notes.append(
            f"event time {str(doc.get('time'))[:40]!r} is not an ISO 8601 UTC time; "
            "the deadline counts from when the message was received"
        )
    region = doc.get("region")
    if not isinstance(region, str) or not _REGION.match(region):
        notes.append(f"region {str(region)[:40]!r} is not an AWS region; every registered cluster is searched")
        region = ""
    action = detail.get("instance-action") if isinstance(detail.get("instance-action"), str) else None
    state = detail.get("state") if isinstance(detail.get("state"), str) else None
    kind = _KINDS[detail_type]
    if kind is SpotEventKind.STATE_CHANGE and state is None:
        return Unreadable(f"{detail_type}: no detail.state")
    return SpotEvent(
        event_id=event_id,
        kind=kind,
        detail_type=detail_type,
        instance_id=instance_id,
        region=region,
        event_time=event_time,
        instance_action=action,
        state=state,
        raw=doc,
        notes=tuple(notes),
    )
