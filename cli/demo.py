"""`cloudoptim demo`: the whole product on a laptop with no cloud.

Starts the sandbox (local AWS + one local Kubernetes API per cluster, seeded), registers its
clusters in the database, runs a first collection and scan, then runs the worker and the UI as
child processes until Ctrl-C/SIGTERM, when everything is stopped and nothing is left running.
While it runs, `cloudoptim demo --inject spot-interruption` sends a Spot interruption warning
into the running sandbox's queue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import requests
import typer

from app.bootstrap import open_database
from cli.common import err_console, run_or_exit, settings_or_exit, ui_command
from cli.targets import register_sandbox_clusters
from app.pricing import load_price_book
from app.services.collect import collect_cluster
from app.services.scans import scan_and_store
from app.settings import Settings
from engines.registry import default_registry


class Injection(StrEnum):
    spot_interruption = "spot-interruption"


def _state_file(settings: Settings) -> Path:
    return settings.data_dir / "demo.json"


def _inject_into_running(settings: Settings) -> None:
    from sandbox.inject import inject_spot_interruption

    path = _state_file(settings)
    if not path.exists():
        err_console.print("[bold red]error:[/] no demo is running (start one with `cloudoptim demo`)")
        raise typer.Exit(2)
    state = json.loads(path.read_text())
    try:
        sent = inject_spot_interruption(state["aws_env"])
    except Exception as exc:  # endpoint gone, no spot node...: one line, not a traceback
        err_console.print(f"[bold red]error:[/] could not inject into the running demo: {exc}")
        raise typer.Exit(2) from None
    typer.echo(f"Spot interruption warning sent for {sent['instance_id']} (event {sent['event_id']})")


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def demo(
    inject: Annotated[Injection | None, typer.Option(help="Send an event into the running demo.")] = None,
    port: Annotated[int | None, typer.Option(help="UI port (default 8501).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sandbox estate.")] = 7,
) -> None:
    """Start the sandbox, the worker and the UI; Ctrl-C stops everything."""
    from sandbox.sandbox import Sandbox

    settings = settings_or_exit()
    if inject is not None and _state_file(settings).exists():
        _inject_into_running(settings)
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    db = run_or_exit(lambda: open_database(settings))
    err_console.print("starting the sandbox (local AWS and Kubernetes APIs, seeded estate)…")
    children: list[subprocess.Popen[bytes]] = []
    with Sandbox(settings.data_dir / "sandbox", seed=seed) as sandbox:
        os.environ.update(sandbox.aws_env)  # process edge: the collectors, worker and UI use it
        clusters = register_sandbox_clusters(db, sandbox)
        prices = load_price_book(settings.pricing_dir)
        for cluster in clusters:
            err_console.print(f"first scan of {cluster.name}…")
            snapshot = collect_cluster(db, settings, cluster, prices)
            scan_and_store(db, snapshot, default_registry(), prices, cluster_id=cluster.id, trigger="demo")
        db.dispose()
        try:
            cli = [sys.executable, "-m", "cli"]
            children.append(subprocess.Popen([*cli, "worker"]))
            cmd = ui_command(None, port)
            url = f"http://{cmd[cmd.index('--server.address') + 1]}:{cmd[cmd.index('--server.port') + 1]}"
            # Written before the UI answers, so `--inject` works as soon as the demo is reachable.
            _state_file(settings).write_text(json.dumps({"pid": os.getpid(), "url": url, "aws_env": sandbox.aws_env}))
            children.append(subprocess.Popen(cmd))
            if not _wait_healthy(url, children[-1]):
                err_console.print("[bold red]error:[/] the UI did not start; see the messages above")
                return
            if inject is Injection.spot_interruption:
                _inject_into_running(settings)
            err_console.print(
                f"\n[bold green]CloudOptim demo is running:[/] {url}\n"
                "No login is needed in the demo. Clusters: " + ", ".join(sandbox.clusters) + ".\n"
                "Try `cloudoptim demo --inject spot-interruption` in another terminal. Ctrl-C stops everything.\n"
            )
            while not stop.is_set() and all(c.poll() is None for c in children):
                stop.wait(0.5)
        finally:
            _state_file(settings).unlink(missing_ok=True)
            _stop_children(children)
    err_console.print("demo stopped")


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
