"""The worker's log lines: text for a terminal, or one JSON object per line for a log pipeline.

`configure(settings)` is called by `cloudoptim worker` (cli.main) instead of the plain
`app.bootstrap.configure_logging`; `settings.worker.log_format` picks the format. Lines carry the
execution and cluster they are about: either passed per call (`log.info(..., extra={"cluster":
"prod"})`) or set for a stretch of work with `log_context(execution_id=..., cluster=...)`, which
the execution runner and the scan jobs wrap around each execution and each cluster scan. The
context lives in a contextvar, so each worker thread (scans, executions, Spot poller) has its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from app.bootstrap import configure_logging
from app.settings import Settings

# The fields a line may carry about what it concerns, in the order a reader wants them.
CONTEXT_FIELDS = ("execution_id", "cluster_id", "cluster", "scan_run_id")
_context: ContextVar[dict[str, Any]] = ContextVar("cloudoptim_log_context", default={})  # noqa: B039 - never mutated


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` (None and "" left out) to every line logged by this thread inside the block."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _context.reset(token)


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own `extra=` fields win over the thread's context."""
    merged = dict(_context.get())
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            merged[name] = value
    return {name: merged[name] for name in CONTEXT_FIELDS if name in merged}


class ContextFilter(logging.Filter):
    """Stamps the thread's context onto each record as it is emitted, so a handler that formats
    later (a queue, pytest's capture) still sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in context_of(record).items():
            setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, context, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context_of(record),
        }
        if record.threadName and record.threadName != "MainThread":
            doc["thread"] = record.threadName
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack_info"] = self.formatStack(record.stack_info)
        # default=str: an id or path passed in `extra=` must never turn a log call into an error.
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual `time LEVEL logger: message`, followed by [execution 5 cluster prod] when known."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        ctx = context_of(record)
        if not ctx:
            return line
        labels = {"execution_id": "execution", "cluster_id": "cluster_id", "cluster": "cluster", "scan_run_id": "scan"}
        return f"{line} [{' '.join(f'{labels[k]} {v}' for k, v in ctx.items())}]"


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(settings: Settings) -> None:
    """Levels and quiet libraries as every process has them, then the worker's own format."""
    configure_logging(settings)
    formatter = formatter_for(settings.worker.log_format)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
