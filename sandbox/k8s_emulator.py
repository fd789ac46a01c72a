"""A local Kubernetes API server for the sandbox, the demo and the tests.

`LocalKubernetes` runs the API of sandbox.k8s_handlers (objects with resourceVersions, the
three patch types, scale/eviction subresources, watches; discovery from kmock) behind an
aiohttp server on 127.0.0.1, with the controllers/scheduler of sandbox.k8s_reconciler, all on
one asyncio loop in a daemon thread, so synchronous code (the official `kubernetes` client, the
CloudOptim app, pytest) talks to it over real HTTP. One instance is one cluster; several can
run side by side. Used by the sandbox launcher, the demo and tests/sandbox.

Node sources (`register_node_source`, e.g. EC2 instances) join as NotReady nodes that turn
Ready `node_join_delay` seconds (default 2) after their machine is first seen; see
sandbox.k8s_nodes for the whole lifecycle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import pathlib
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

import aiohttp.web
import kubernetes.client
import yaml

from engines.quantity import parse_bytes as parse_memory
from engines.quantity import parse_cpu
from sandbox.k8s_handlers import SandboxEmulator
from sandbox.k8s_reconciler import MANAGED_BY_SOURCE, NodeSource, Reconciler
from sandbox.k8s_store import NAMESPACES

__all__ = ["MANAGED_BY_SOURCE", "LocalKubernetes", "parse_cpu", "parse_memory"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_KUBECONFIG_LOCK = threading.Lock()  # several clusters of one process may share a kubeconfig
# Seeding order: what others depend on first, so no pass sees a pod before its node.
_PUT_ORDER = {"Namespace": 0, "Node": 1}


class LocalKubernetes:
    """Context manager + start()/stop(); `url` is valid while started."""

    def __init__(self, *, port: int = 0, reconcile_interval: float = 0.5, node_join_delay: float = 2.0) -> None:
        """`node_join_delay`: seconds from a node source's machine first being seen to its Node
        being Ready (it is registered NotReady meanwhile); 0 registers it Ready at once."""
        self._port = port
        self._interval = reconcile_interval
        self._join_delay = node_join_delay
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._emu: SandboxEmulator | None = None
        self._reconciler: Reconciler | None = None
        self._sources: list[NodeSource] = []
        self._error: BaseException | None = None
        self.url = ""

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalKubernetes:
        if self._thread is not None:
            raise RuntimeError("LocalKubernetes is already started")
        ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._thread_main, args=(ready,), name="local-kubernetes",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(30) or self._error is not None:
            self.stop()
            raise RuntimeError("local Kubernetes API server did not start") from self._error
        log.info("local Kubernetes API server at %s", self.url)
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have just finished on its own
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(10)
        self._thread = self._loop = self._stop_event = self._emu = self._reconciler = None
        self.url = ""

    def __enter__(self) -> LocalKubernetes:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _thread_main(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # surfaced to start(); the thread must not die silently
            self._error = exc
            log.exception("local Kubernetes API server crashed")
        finally:
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        async with SandboxEmulator() as emu:
            # Not kmock.Server: its DNS interceptor swaps a process-global aiohttp hook and must be
            # exited in LIFO order, which clusters stopped in any order from other threads break.
            runner = aiohttp.web.ServerRunner(aiohttp.web.Server(emu, access_log=None), handle_signals=False,
                                             shutdown_timeout=1.0)  # open watches would hold it 60 s
            await runner.setup()
            try:
                site = aiohttp.web.TCPSite(runner, "127.0.0.1", self._port)
                await site.start()
                port = runner.addresses[0][1]
                reconciler = Reconciler(emu, interval=self._interval, node_join_delay=self._join_delay)
                for fn in self._sources:
                    reconciler.add_node_source(fn)
                for namespace in ("default", "kube-system"):
                    emu.put(NAMESPACES, None, namespace, _namespace(namespace))
                task = asyncio.create_task(reconciler.run(), name="local-kubernetes-reconciler")
                self._loop, self._stop_event = asyncio.get_running_loop(), asyncio.Event()
                self._emu, self._reconciler = emu, reconciler
                self.url = f"http://127.0.0.1:{port}"
                ready.set()
                await self._stop_event.wait()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            finally:
                await runner.cleanup()

    # --- clients ---------------------------------------------------------------------------
    def api_client(self) -> kubernetes.client.ApiClient:
        self._require_started()
        config = kubernetes.client.Configuration()
        config.host = self.url
        return kubernetes.client.ApiClient(config)

    def write_kubeconfig(self, path: pathlib.Path, context: str) -> pathlib.Path:
        """Write (or merge into) a kubeconfig: one cluster/user/context named `context`, no auth.

        Entries of other contexts are kept; current-context is set only if the file had none.
        """
        self._require_started()
        path = pathlib.Path(path)
        with _KUBECONFIG_LOCK:
            config: dict[str, Any] = {}
            if path.exists():
                config = yaml.safe_load(path.read_text()) or {}
            config.setdefault("apiVersion", "v1")
            config.setdefault("kind", "Config")
            config.setdefault("preferences", {})
            entries = {"clusters": {"name": context, "cluster": {"server": self.url}},
                       "users": {"name": context, "user": {}},
                       "contexts": {"name": context, "context": {"cluster": context, "user": context}}}
            for section, entry in entries.items():
                others = [e for e in config.get(section) or [] if e.get("name") != context]
                config[section] = [*others, entry]
            config["current-context"] = config.get("current-context") or context
            path.parent.mkdir(parents=True, exist_ok=True)
            # Atomic replace: a reader (the app) never sees a half-written file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "w") as handle:
                yaml.safe_dump(config, handle, sort_keys=False)
            os.replace(tmp, path)
        return path

    # --- seeding ---------------------------------------------------------------------------
    def put(self, obj: dict[str, Any]) -> None:
        """Create or replace one object from a manifest (apiVersion/kind/metadata)."""
        self.put_many([obj])

    def put_many(self, objs: Iterable[dict[str, Any]]) -> None:
        ordered = sorted(objs, key=lambda o: _PUT_ORDER.get(str(o.get("kind")), 2))
        self._run(self._put_all(ordered))

    async def _put_all(self, objs: list[dict[str, Any]]) -> None:
        emu, reconciler = self._emu, self._reconciler
        assert emu is not None and reconciler is not None
        async with reconciler.pass_lock:  # a pass sees all of a batch or none of it
            for obj in objs:
                res, namespaced = emu.kind_info(str(obj["apiVersion"]), str(obj["kind"]))
                meta = obj["metadata"]
                namespace = (meta.get("namespace") or "default") if namespaced else None
                if namespace and not emu.exists(NAMESPACES, None, namespace):
                    emu.put(NAMESPACES, None, namespace, _namespace(namespace))
                emu.put(res, namespace, str(meta["name"]), obj)

    def register_node_source(self, fn: NodeSource) -> None:
        """Register a callable returning the node manifests that should exist (run in a worker thread).

        A manifest whose Ready condition is not "True" means its machine's kubelet is down (the
        Node goes NotReady); a node missing from a source that answered is removed.
        """
        self._sources.append(fn)  # kept for a restart of this instance
        if self._reconciler is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._reconciler.add_node_source, fn)

    def wait_reconciled(self, passes: int = 1, timeout: float = 10.0) -> None:
        """Block until `passes` full reconcile passes have run after this call."""
        reconciler = self._reconciler
        self._require_started()
        assert reconciler is not None
        target = reconciler.passes + passes + 1  # +1: the pass in progress may predate the call
        deadline = time.monotonic() + timeout
        while reconciler.passes < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reconciler did not complete {passes} pass(es) in {timeout}s")
            time.sleep(0.02)

    # --- internals -------------------------------------------------------------------------
    def _require_started(self) -> None:
        if self._thread is None or self._loop is None:
            raise RuntimeError("LocalKubernetes is not started")

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        self._require_started()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LocalKubernetes blocking calls cannot run on its own loop thread")
        assert self._loop is not None
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=60)


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
