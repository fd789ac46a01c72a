"""HTTP plumbing of the local Kubernetes API: URL parsing, request bodies and Status errors.

`parse_request` turns an aiohttp request for an object URL (`/api/v1/namespaces/NS/pods/NAME`,
`/apis/GROUP/VERSION/PLURAL`, with an optional subresource) into an `ApiRequest` with the
Kubernetes verb; any other URL (discovery) gives None and goes to kmock. `ApiError` carries
a `Status` body shaped and worded as kube-apiserver words it (NotFound, AlreadyExists,
Conflict, Invalid, ...), so clients and the executor see what a real cluster would send.
Used by sandbox.k8s_handlers, sandbox.k8s_subresources and sandbox.k8s_watch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web

from sandbox.k8s_kmock_adapter import Resource, ResourceType

# Subresources of the namespace object itself, as opposed to /namespaces/NS/PLURAL.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


class ApiError(Exception):
    """A failed request; `body()` is the Status object the API server would return."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = dict(details or {})

    def body(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, details=self.details)


def status_body(code: int, reason: str, message: str, *, success: bool = False,
                details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Success" if success else "Failure", "message": message,
                            "reason": reason, "details": dict(details or {}), "code": code}
    return {key: value for key, value in body.items() if value not in ("", {}) or key == "metadata"}


def details_of(res: Resource, name: str | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name} if name else {}
    if res.group:
        out["group"] = res.group
    return {**out, "kind": res.plural, **extra}


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', details_of(res, name))


def no_such_resource() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def already_exists(res: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', details_of(res, name))


def conflict(res: Resource, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                    details_of(res, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(rtype: ResourceType, name: str, field_path: str, problem: str) -> ApiError:
    """422 Invalid, with one cause naming the field, as validation failures are reported."""
    cause = {"reason": "FieldValueInvalid", "message": problem, "field": field_path}
    details = {"name": name, **({"group": rtype.resource.group} if rtype.resource.group else {}),
               "kind": rtype.kind, "causes": [cause]}
    return ApiError(422, "Invalid", f'{rtype.qualified_kind} "{name}" is invalid: {field_path}: {problem}', details)


def unprocessable(cause: str) -> ApiError:
    """422 for a patch that cannot be applied (a failed JSON-patch test, a missing path)."""
    return ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                    {"causes": [{"message": cause}]})


@dataclass(frozen=True)
class ApiRequest:
    """One request for an object URL; `verb` is the Kubernetes verb (list, watch, get, ...)."""

    verb: str
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None
    params: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""
    body: bytes = b""

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"the body of the request could not be decoded as JSON: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise bad_request("the request body must be a JSON object")
        return data

    @property
    def dry_run(self) -> bool:
        return self.params.get("dryRun") == "All"


def parse_path(path: str) -> tuple[Resource, str | None, str | None, str | None] | None:
    """(resource, namespace, name, subresource) of an object URL; None for any other URL."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None  # /api/v1, /apis/apps/v1: discovery
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return Resource(group, version, rest[0]), namespace, name, subresource


def _verb(method: str, name: str | None, subresource: str | None, params: Mapping[str, str]) -> str:
    if method == "GET":
        return "watch" if params.get("watch") in ("true", "1") else "get" if name else "list"
    if name is None:
        return {"POST": "create", "DELETE": "deletecollection"}.get(method, "unsupported")
    if method == "POST":
        return "create" if subresource else "unsupported"  # POST .../pods/NAME/eviction
    return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "unsupported")


async def parse_request(raw: aiohttp.web.BaseRequest) -> ApiRequest | None:
    parsed = parse_path(raw.path)
    if parsed is None:
        return None
    res, namespace, name, subresource = parsed
    params = dict(raw.query)
    content_type = raw.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return ApiRequest(_verb(raw.method, name, subresource, params), res, namespace, name, subresource, params,
                      content_type, await raw.read())


def json_reply(body: Mapping[str, Any], status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.json_response(body, status=status)
