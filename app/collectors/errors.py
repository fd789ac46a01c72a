"""Collector failures as values: `CollectorError` (a whole source failed) and `Collected` (result + warnings).

Every collector in this package raises `CollectorError` naming the source ("kubernetes:<context>",
"aws:<region>:ec2", "prometheus:<url>", "file:<path>") and a human reason; it never lets a client
library exception escape. `app.collectors.snapshot.build_snapshot` turns these into
`SourceError` rows of the Snapshot and keeps the last good data, so the worker never crashes.
`describe_http_error` keeps an error page from a proxy out of those messages.
"""

from __future__ import annotations

import errno
import html
import json
import re
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


MAX_DETAIL = 160
_INVISIBLE = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"<(br|p|div|h[1-6]|li|tr|hr|pre|center|body|title)\b[^>]*>|</(p|div|h[1-6]|li|tr|pre|title)>", re.I)
_TAG = re.compile(r"<[^>]+>")


def first_meaningful_line(body: str, skip: tuple[str, ...] = ()) -> str:
    """The first line of text a person would read in `body` (HTML stripped), capped in length.

    Error pages from proxies and load balancers in front of Prometheus or the API server are
    whole HTML documents; the title or first heading is what says what happened.
    """
    title = _TITLE.search(body)
    if _TAG.search(body):
        # In HTML a newline is just a space; blocks (paragraphs, headings...) are the lines.
        text = _BLOCK.sub("\x00", _INVISIBLE.sub(" ", body))
        lines = [" ".join(html.unescape(_TAG.sub(" ", chunk)).split()) for chunk in text.split("\x00")]
    else:
        lines = [" ".join(line.split()) for line in body.splitlines()]
    if title is not None:
        lines.insert(0, " ".join(html.unescape(_TAG.sub(" ", title.group(1))).split()))
    ignored = {s.lower() for s in skip}
    line = next((ln for ln in lines if ln and ln.lower() not in ignored), "")
    return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 1].rstrip() + "…"


def describe_http_error(status: int, reason: str | None, body: str | bytes | None) -> str:
    """"HTTP 502 Bad Gateway: <first meaningful line of the body>", never the whole body."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    head = f"HTTP {status} {reason or ''}".rstrip()
    text = body or ""
    if text.lstrip().startswith("{"):
        # A Kubernetes Status or a Prometheus error document says why in one field.
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("message") or doc.get("error"), str):
            text = str(doc.get("message") or doc.get("error"))
    detail = first_meaningful_line(text, skip=(head, reason or "", f"{status} {reason or ''}".strip()))
    return f"{head}: {detail}" if detail else head
