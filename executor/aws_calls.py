"""AWS calls for the executor's actions: retries inside a deadline, errors as executor errors, waits.

Used by `executor.aws_actions`, `executor.ebs_actions` and `executor.node_replace`. boto3 already
retries a throttled call a few times; when the account stays throttled (RequestLimitExceeded is a
per-account, per-region bucket that other tools drain too) `call` keeps backing off with the
context's injectable sleep until its deadline, then raises `TemporaryError` so the execution can
be retried later. Everything else becomes a `PermanentError` whose message names the operation,
the AWS error code and, for a denied call, the IAM action to grant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from executor.base import ExecContext, PermanentError, StepStatus, TemporaryError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Codes AWS documents for request throttling (EC2 uses RequestLimitExceeded, most others Throttling*).
THROTTLING = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException",
                        "RequestThrottled", "RequestThrottledException", "SlowDown"})
SERVER_ERRORS = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable"})
DENIED = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure"})
# Defaults when the ExecContext has no such field (the worker sets them from settings).
AWS_CALL_TIMEOUT_S = 120.0  # how long one throttled call is retried
AWS_WAIT_TIMEOUT_S = 900.0  # a state change (instance stopped, snapshot completed, volume optimizing)
# Tags AWS reserves: they cannot be written by RunInstances / CreateTags.
RESERVED_TAG_PREFIX = "aws:"
MANAGED_BY_TAG = "cloudoptim.io/managed-by"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)


def is_not_found(exc: ClientError) -> bool:
    # InvalidInstanceID.NotFound, InvalidVolume.NotFound, InvalidSnapshot.NotFound, ...
    code = error_code(exc)
    return code.endswith(".NotFound") or code in ("NotFound", "ResourceNotFoundException")


def timeout(ctx: ExecContext, name: str, default: float) -> float:
    """A deadline knob of the context, if the worker set one; `default` otherwise."""
    value = getattr(ctx, name, None)
    return float(value) if isinstance(value, int | float) and value > 0 else default


def permanent(op: str, exc: ClientError, service: str = "ec2") -> PermanentError:
    code = error_code(exc)
    if code in DENIED:
        action = f"{service}:{exc.operation_name or op}"
        return PermanentError(f"{op}: not allowed ({code}); grant {action} (see `cloudoptim permissions`)")
    return PermanentError(f"{op}: {code or 'error'}: {error_message(exc)}")


def call(ctx: ExecContext, op: str, fn: Callable[..., Any], /, **kwargs: Any) -> dict[str, Any]:
    """Call one AWS operation; retry throttling and 5xx with backoff until the deadline.

    Other ClientErrors are re-raised unchanged: the caller decides what NotFound means (done for
    a delete, stale for a change) and turns the rest into `permanent(op, exc)`.
    """
    budget = timeout(ctx, "aws_call_timeout_s", AWS_CALL_TIMEOUT_S)
    deadline = ctx.monotonic() + budget
    delay, attempts = max(ctx.poll_interval_s, 0.5), 0
    while True:
        attempts += 1
        try:
            return dict(fn(**kwargs))
        except ClientError as exc:
            code = error_code(exc)
            if code not in THROTTLING and code not in SERVER_ERRORS:
                raise
            reason = f"{code}: {error_message(exc)}"
        except (BotoConnectionError, HTTPClientError) as exc:
            reason = f"cannot reach AWS: {exc}"
        if ctx.should_stop() or ctx.monotonic() + delay > deadline:
            raise TemporaryError(f"{op}: still failing after {attempts} attempt(s) ({reason}); retry later")
        if attempts == 1:  # one record per call, not one per retry
            ctx.step(op, StepStatus.RETRYING, f"{reason}; retrying for up to {budget:.0f}s")
        log.warning("%s: %s; retrying in %.1fs", op, reason, delay)
        ctx.sleep(delay)
        delay = min(delay * 2, 30.0)


def wait_for(ctx: ExecContext, what: str, check: Callable[[], T | None], timeout_s: float,
             progress: Callable[[], str] = lambda: "") -> T:
    """Poll `check` (None = not yet) every poll interval until the deadline; TemporaryError after it."""
    deadline = ctx.monotonic() + timeout_s
    while True:
        found = check()
        if found is not None:
            return found
        if ctx.should_stop():
            raise TemporaryError(f"the worker is stopping while waiting for {what}")
        if ctx.monotonic() >= deadline:
            detail = progress()
            raise TemporaryError(f"{what}: not reached within {timeout_s:.0f}s" + (f" ({detail})" if detail else ""))
        ctx.sleep(ctx.poll_interval_s)


def describe_instance(ctx: ExecContext, instance_id: str) -> dict[str, Any] | None:
    """The live instance, or None when AWS no longer knows it."""
    try:
        resp = call(ctx, "DescribeInstances", ctx.ec2.describe_instances, InstanceIds=[instance_id])
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise permanent("DescribeInstances", exc) from exc
    found = [i for r in resp.get("Reservations", []) for i in r.get("Instances", [])]
    return found[0] if found else None


def describe_volume(ctx: ExecContext, volume_id: str) -> dict[str, Any] | None:
    try:
        resp = call(ctx, "DescribeVolumes", ctx.ec2.describe_volumes, VolumeIds=[volume_id])
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise permanent("DescribeVolumes", exc) from exc
    volumes = resp.get("Volumes", [])
    return dict(volumes[0]) if volumes else None


def state_of(instance: Mapping[str, Any] | None) -> str:
    return str((instance or {}).get("State", {}).get("Name", "gone"))


def tag_map(tags: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or [] if "Key" in t}


def user_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags that may be copied to a new resource (AWS's own aws:* tags are read-only)."""
    return {k: v for k, v in tags.items() if not k.startswith(RESERVED_TAG_PREFIX)}


def cluster_of(tags: Mapping[str, str]) -> str | None:
    """The Kubernetes cluster an instance is a node of, by the tags EKS and kOps set."""
    for key, value in tags.items():
        if key.startswith("kubernetes.io/cluster/") and value in ("owned", "shared"):
            return key.removeprefix("kubernetes.io/cluster/")
    return tags.get("eks:cluster-name") or tags.get("aws:eks:cluster-name")


def tags_text(tags: Mapping[str, str], limit: int = 5) -> str:
    shown = sorted((k, v) for k, v in tags.items() if not k.startswith(RESERVED_TAG_PREFIX))
    text = ", ".join(f"{k}={v}" for k, v in shown[:limit])
    more = f", +{len(shown) - limit} more" if len(shown) > limit else ""
    return f"tags {text}{more}" if shown else "no tags"


def summary(resp: Mapping[str, Any]) -> dict[str, Any]:
    """A response without its transport metadata, JSON-safe, for a step record."""
    def clean(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items() if k != "ResponseMetadata"}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    out: dict[str, Any] = clean(resp)
    request_id = resp.get("ResponseMetadata", {}).get("RequestId")
    if request_id:
        out["RequestId"] = request_id  # what AWS support asks for
    return out
