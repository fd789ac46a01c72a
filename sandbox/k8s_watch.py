"""Watch streams of the local Kubernetes API, as kube-apiserver serves `?watch=true`.

`serve_watch` streams one JSON event per line: without a resourceVersion (or "0") it starts with
an ADDED event per current object, with one it replays the writes after it from the store's
history (an ERROR event with a 410 Expired Status when that version is too old, which makes
clients re-list), then it follows new writes. Label/field selectors (and the object name of a
watch on a named URL) filter the events the way the real server does: an object that stops
matching arrives as DELETED, one that starts matching as ADDED. timeoutSeconds ends the stream;
so does a client that went away or fell too far behind. Used by sandbox.k8s_handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Mapping
from typing import Any

import aiohttp.web

from sandbox.k8s_http import ApiRequest, bad_request, status_body
from sandbox.k8s_selectors import (
    FieldRequirement,
    Requirement,
    fields_match,
    labels_match,
    labels_of,
    parse_field_selector,
    parse_label_selector,
)
from sandbox.k8s_store import Event, ResourceVersionTooOld, SandboxStore

# How often an idle watch checks that its client is still there (aiohttp does not cancel it).
_IDLE_CHECK_S = 2.0


class _Filter:
    def __init__(self, req: ApiRequest) -> None:
        try:
            self.labels: list[Requirement] = parse_label_selector(req.params.get("labelSelector", ""))
            self.fields: list[FieldRequirement] = parse_field_selector(req.params.get("fieldSelector", ""))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        if req.name:  # GET .../pods/NAME?watch=true watches that one object
            self.fields.append(("metadata.name", True, req.name))
        self.namespace = req.namespace

    def __call__(self, obj: Mapping[str, Any] | None) -> bool:
        if obj is None:
            return False
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        return ((self.namespace is None or ns == self.namespace) and labels_match(self.labels, labels_of(obj))
                and fields_match(self.fields, obj, ns))


def _as_seen(event: Event, matches: _Filter) -> dict[str, Any] | None:
    """The event a filtered watch receives for `event`, or None."""
    now, before = matches(event.obj), event.type == "MODIFIED" and matches(event.old)
    if event.type == "MODIFIED" and now != before:
        kind = "ADDED" if now else "DELETED"
    elif now:
        kind = event.type
    else:
        return None
    return {"type": kind, "object": event.obj}


def _since(req: ApiRequest) -> int | None:
    value = req.params.get("resourceVersion") or ""
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f"invalid resourceVersion: {value!r}") from exc


async def serve_watch(store: SandboxStore, req: ApiRequest,
                      raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
    matches, since = _Filter(req), _since(req)
    loop = asyncio.get_running_loop()
    timeout = float(req.params.get("timeoutSeconds") or 0)
    deadline = loop.time() + timeout if timeout > 0 else math.inf
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    try:
        watcher, backlog = store.subscribe(req.resource, since)
    except ResourceVersionTooOld as exc:
        await response.prepare(raw)
        await _send(response, {"type": "ERROR", "object": status_body(410, "Expired", str(exc))})
        return await _finish(response)
    try:
        await response.prepare(raw)
        for event in backlog:
            await _send(response, _as_seen(event, matches))
        while not watcher.overflowed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                event = await asyncio.wait_for(watcher.queue.get(), min(remaining, _IDLE_CHECK_S))
            except TimeoutError:
                if raw.transport is None or raw.transport.is_closing():
                    break
                continue
            await _send(response, _as_seen(event, matches))
    except (ConnectionError, RuntimeError):  # the client went away mid-write
        pass
    finally:
        store.unsubscribe(watcher)
    return await _finish(response)


async def _send(response: aiohttp.web.StreamResponse, event: dict[str, Any] | None) -> None:
    if event is not None:
        await response.write(json.dumps(event).encode() + b"\n")


async def _finish(response: aiohttp.web.StreamResponse) -> aiohttp.web.StreamResponse:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write_eof()
    return response
