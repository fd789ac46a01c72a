"""Collector failures as values: `CollectorError` (a whole source failed) and `Collected` (result + warnings).

Every collector in this package raises `CollectorError` naming the source ("kubernetes:<context>",
"aws:<region>:ec2", "prometheus:<url>", "file:<path>") and a human reason; it never lets a client
library exception escape. `app.collectors.snapshot.build_snapshot` turns these into
`SourceError` rows of the Snapshot and keeps the last good data, so the worker never crashes.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from engines.snapshot_aws import SourceError

T = TypeVar("T")


class CollectorError(Exception):
    """A source that could not be read at all; `source` says which, `message` says why."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message

    def as_source_error(self) -> SourceError:
        return SourceError(source=self.source, message=self.message)


@dataclass(frozen=True)
class Collected(Generic[T]):
    """What a collector read, plus per-object problems that were skipped (not fatal)."""

    value: T
    warnings: tuple[SourceError, ...] = field(default=())


def describe_network_error(exc: BaseException) -> str:
    """A short reason for a connection failure, found anywhere in the exception's cause chain.

    urllib3 and botocore wrap the socket error two or three levels deep; analysts need
    "connection refused" or "timed out", not the wrapper's repr.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if isinstance(current, TimeoutError | socket.timeout):
            return "timed out"
        if isinstance(current, OSError) and current.errno == errno.ECONNREFUSED:
            return "connection refused"
        text = str(current).lower()
        if "connection refused" in text or "errno 111" in text:
            return "connection refused"
        if "timed out" in text or "timeout" in text:
            return "timed out"
        if "name or service not known" in text or "nodename nor servname" in text:
            return "host name not found"
        reason = getattr(current, "reason", None)
        nxt = reason if isinstance(reason, BaseException) else None
        current = nxt or current.__cause__ or current.__context__
    return str(exc) or type(exc).__name__
