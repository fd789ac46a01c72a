"""The one module of the sandbox that knows kmock: its resource catalogue and discovery server.

kmock 0.8 is pinned and self-declared v0 ("might change with breaking changes"), so everything
the sandbox takes from it goes through here, and a kmock upgrade should touch only this file:
- `bundled_catalogue()`: the built-in resources (kind, scope, subresources) of kmock's bundled
  discovery dump of a K3s server, as plain `ResourceType` values keyed by `Resource`;
- `DiscoveryServer`: kmock's stateless `KubernetesScaffold`, which answers /api, /apis,
  /apis/GROUP/VERSION, /version and unknown URLs the way a real server does.
Object requests never reach kmock: its emulator merges every patch naively, keeps an unbounded
history per object and has no resourceVersions, so sandbox.k8s_handlers serves them from
sandbox.k8s_store. Used by sandbox.k8s_store and sandbox.k8s_handlers.
"""

from __future__ import annotations

import functools
import json
import pathlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp.web
import kmock

# kmock keeps every request and error forever (for test assertions); a long demo must not grow.
_REQUEST_LOG_MAX = 2000


@dataclass(frozen=True)
class Resource:
    """One served resource: group ("" for the core API), version and plural name."""

    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How API error messages name the resource: `deployments.apps`, `nodes`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass(frozen=True)
class ResourceType:
    """What the API server knows about a resource besides its name."""

    resource: Resource
    kind: str
    namespaced: bool
    subresources: frozenset[str]

    @property
    def qualified_kind(self) -> str:
        """How validation messages name the kind: `Deployment.apps`, `Node`."""
        group = self.resource.group
        return f"{self.kind}.{group}" if group else self.kind


def _bundle_path() -> pathlib.Path:
    # load_path() of the bundled file rather than load_bundled(): the latter warns about a
    # deprecated importlib call on every start.
    return pathlib.Path(kmock.__file__).parent / "_internal" / "resources.json.gz"


@functools.cache
def bundled_catalogue() -> dict[Resource, ResourceType]:
    """Every resource of kmock's bundled discovery dump (built-in Kubernetes APIs, no CRDs)."""
    resources = kmock.ResourcesArray()
    resources.load_path(_bundle_path())
    catalogue: dict[Resource, ResourceType] = {}
    for ref in resources:
        info = resources[ref]
        if not (isinstance(ref.group, str) and isinstance(ref.version, str) and isinstance(ref.plural, str)):
            continue  # kmock allows partial references; the bundle has none, but be strict
        res = Resource(ref.group, ref.version, ref.plural)
        catalogue[res] = ResourceType(res, str(info.kind or ref.plural.capitalize()), bool(info.namespaced),
                                      frozenset(info.subresources))
    return catalogue


class DiscoveryServer:
    """kmock's discovery endpoints as an aiohttp handler; enter it (`async with`) before serving."""

    def __init__(self) -> None:
        self._kmock = kmock.KubernetesScaffold()
        self._kmock.resources.load_path(_bundle_path())

    async def __aenter__(self) -> DiscoveryServer:
        # Entered, kmock renders a failing request as a Status response instead of raising.
        await self._kmock.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._kmock.__aexit__(exc_type, exc, tb)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        path = raw_request.path
        if len(path) > 1 and path.endswith("/"):  # the client asks for /version/; kmock knows /version
            raw_request = raw_request.clone(rel_url=raw_request.rel_url.with_path(path.rstrip("/")))
        try:
            response = await self._kmock(raw_request)
        finally:
            self._trim_logs()
        raw_body = response.body if isinstance(response, aiohttp.web.Response) else None
        if raw_request.path == "/api/v1" and isinstance(raw_body, bytes | bytearray):
            # kmock names the core group version "/v1"; the real server says "v1".
            body = json.loads(raw_body)
            if isinstance(body, dict) and body.get("groupVersion") == "/v1":
                return aiohttp.web.json_response({**body, "groupVersion": "v1"}, status=response.status)
        return response

    def _trim_logs(self) -> None:
        # kmock's request logs are private attributes; trimming them is the price of using it.
        emu: Any = self._kmock
        logs: list[list[Any]] = [emu._requests, *(payload._requests for payload in emu._payloads), *emu._errors]
        for log_list in logs:
            if len(log_list) > _REQUEST_LOG_MAX:
                del log_list[: -_REQUEST_LOG_MAX // 2]
