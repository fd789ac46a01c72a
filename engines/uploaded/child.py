"""The sandboxed child: `python -I -m engines.uploaded.child` runs one uploaded engine once.

Started only by `app.services.upload_sandbox` (empty environment, resource limits, no network,
read-only filesystem but for its private working directory). Reads one JSON request from stdin:
`{"mode": "validate"|"run", "source", "module_name", "snapshot", "prices", "settings", "now"}`
and writes one JSON reply to stdout: `{"engine": {...}, "checks": [...], "result": ScanResult |
null, "error": {"stage", "message"} | null}`. The upload's own prints go to stderr so they cannot
corrupt the reply. The parent trusts none of it: it re-validates every recommendation.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import datetime
from typing import Any

from engines.contract import Engine, ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import loader
from engines.uploaded.prices import DataPriceBook
from engines.uploaded.sample import empty_snapshots


class StageError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage, self.message = stage, message


def _short_error(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f"line {f.lineno}" for f in reversed(frames) if f.filename.startswith("<upload")), "")
    return f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else "")


def _scan(engine: Engine[Any], snapshot: Snapshot, ctx: ScanContext[Any], stage: str) -> ScanResult:
    try:
        result = engine.scan(snapshot, ctx)
    except Exception as exc:
        raise StageError(stage, _short_error(exc)) from exc
    if not isinstance(result, ScanResult):
        raise StageError(stage, f"scan() returned {type(result).__name__}, not a ScanResult")
    return result


def handle(request: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {"engine": None, "checks": [], "result": None, "error": None}
    try:
        try:
            loaded = loader.load(request["source"], request.get("module_name", "uploaded_engine"))
        except SyntaxError as exc:
            raise StageError("syntax", f"line {exc.lineno}: {exc.msg}") from exc
        except loader.ShapeError as exc:
            raise StageError("class shape", str(exc)) from exc
        except Exception as exc:
            raise StageError("import", _short_error(exc)) from exc
        cls = loaded.cls
        reply["checks"] = [c.as_dict() for c in loaded.checks]
        reply["engine"] = {"name": getattr(cls, "name", None), "title": getattr(cls, "title", None),
                           "doc": (cls.__doc__ or "").strip()[:2000], "class": cls.__name__}  # fmt: skip
        if not all(c.passed for c in loaded.checks):
            raise StageError("class shape", "; ".join(c.message for c in loaded.checks if not c.passed))
        try:
            settings = cls.Settings.model_validate(request.get("settings") or {})
            engine = cls()
        except Exception as exc:
            raise StageError("settings", _short_error(exc)) from exc
        now = datetime.fromisoformat(request["now"])
        ctx: ScanContext[Any] = ScanContext(prices=DataPriceBook(request.get("prices") or {}), now=now, settings=settings)
        snapshot = Snapshot.model_validate(request["snapshot"])
        if request.get("mode") == "validate":
            for empty in empty_snapshots(now):
                recs = _scan(engine, empty, ctx, "empty snapshot").recommendations
                label = "no cluster" if empty.cluster is None else "an empty cluster"
                reply["checks"].append({"name": f"empty snapshot ({label})", "passed": not recs,
                                        "message": "recommends nothing" if not recs else f"{len(recs)} recommendation(s) "
                                        "on an empty snapshot"})  # fmt: skip
        result = _scan(engine, snapshot, ctx, "scan")
        if request.get("mode") == "validate":
            again = _scan(engine, snapshot, ctx, "scan").model_dump_json()
            same = again == result.model_dump_json()
            reply["checks"].append({"name": "deterministic", "passed": same,
                                    "message": "two scans gave the same result" if same else "two scans of the same "
                                    "snapshot gave different results"})  # fmt: skip
        reply["result"] = result.model_dump(mode="json")
    except StageError as exc:
        reply["error"] = {"stage": exc.stage, "message": exc.message}
    return reply


def main() -> int:
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # the upload's print() lands in stderr, never in the reply
    sys.stdout = sys.stderr
    try:
        request = json.loads(sys.stdin.buffer.read())
    except (ValueError, OSError) as exc:
        os.write(reply_fd, json.dumps({"error": {"stage": "request", "message": str(exc)}}).encode())
        return 2
    reply = handle(request)
    data = json.dumps(reply, default=str).encode()
    with os.fdopen(reply_fd, "wb") as out:
        out.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
