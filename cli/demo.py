"""`cloudoptim demo`: the whole product on a laptop with no cloud.

Takes the data directory's demo lock first (one demo per data directory, see `cli.demo_state`),
starts the sandbox (local AWS + one local Kubernetes API per cluster, seeded), registers its
clusters in the database, runs a first scan of each through the same pipeline as `cloudoptim
scan`, then runs the worker (polling the sandbox's Spot queue) and the UI as child processes until
Ctrl-C/SIGTERM, when everything is stopped and nothing is left running. While it runs, `cloudoptim
demo --inject spot-interruption` sends a Spot interruption warning into the running sandbox's
queue, and the worker cordons, replaces and drains that node; with no demo running it says so and
starts nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import EXIT_FAILED, console, error, open_db_or_exit, run_or_exit, say, settings_or_exit

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.settings import Settings

DEMO_ADMIN = "admin"


class Injection(StrEnum):
    spot_interruption = "spot-interruption"


def _inject_into_running(settings: Settings, instance_id: str | None) -> None:
    from cli.demo_state import running_demo

    state = running_demo(settings.data_dir)
    if state is None:
        error(f"no demo is running on {settings.data_dir} (start one with `cloudoptim demo`)")
    if not state.aws_env:
        error(f"the demo on {settings.data_dir} (pid {state.pid}) is still starting; try again in a moment")
    from sandbox.inject import inject_spot_interruption

    try:
        sent = inject_spot_interruption(state.aws_env, instance_id)
    except Exception as exc:  # endpoint gone, no spot node...: one line, not a traceback
        error(f"could not inject into the running demo: {exc}")
    typer.echo(f"Spot interruption warning sent for {sent['instance_id']} (event {sent['event_id']})")


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> bool:
    import requests

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
    instance_id: Annotated[str | None, typer.Option("--instance-id", help="With --inject: the Spot instance to interrupt.")] = None,
    port: Annotated[int | None, typer.Option(help="UI port (default 8501).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sandbox estate.")] = 7,
) -> None:
    """Start the sandbox, the worker and the UI; Ctrl-C stops everything.

    One demo runs per data directory (CLOUDOPTIM_DATA_DIR): a second one is refused with the
    first one's pid and URL. Exit code 1 when the demo could not start, 2 for bad settings.
    """
    from app.settings import ensure_data_dir
    from cli.demo_state import DemoRunning, demo_lock

    settings = settings_or_exit()
    if inject is not None:
        _inject_into_running(settings, instance_id)
        return
    run_or_exit(lambda: ensure_data_dir(settings))
    try:
        with demo_lock(settings.data_dir):
            started = _run(settings, port, seed)
    except DemoRunning as exc:
        error(str(exc))
    if not started:
        error("the UI did not start; see the messages above", EXIT_FAILED)
    say("demo stopped")


def _run(settings: Settings, port: int | None, seed: int) -> bool:
    """Run the demo until stopped; False if the UI never became healthy."""
    from rich.markup import escape

    from app.db.states import ScanTrigger
    from app.pricing import load_price_book
    from app.services.pipeline import scan_cluster
    from cli.common import quiet_logging, ui_command, ui_url
    from cli.demo_state import DemoState, write_state
    from cli.scan import report_scan
    from cli.targets import register_sandbox_clusters
    from engines.registry import default_registry
    from sandbox.sandbox import Sandbox

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    quiet_logging(settings)
    db = open_db_or_exit(settings)
    prices = run_or_exit(lambda: load_price_book(settings.pricing_dir))
    say("starting the sandbox (local AWS and Kubernetes APIs, seeded estate)…")
    children: list[subprocess.Popen[bytes]] = []
    with Sandbox(settings.data_dir / "sandbox", seed=seed) as sandbox:
        os.environ.update(sandbox.aws_env)  # process edge: the collectors, worker and UI use it
        registry = default_registry()
        for cluster in register_sandbox_clusters(db, sandbox, settings):
            say(f"first scan of {cluster.name}…")
            report_scan(scan_cluster(db, settings, cluster, prices=prices, registry=registry, trigger=ScanTrigger.DEMO))
        sign_in_line = _demo_admin(db)
        db.dispose()
        try:
            # The worker polls the sandbox's Spot queue, so `--inject spot-interruption` is handled.
            worker_env = {**os.environ, "CLOUDOPTIM_AWS__SPOT_QUEUE_URL": sandbox.spot_queue_url}
            children.append(subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=worker_env))
            cmd = ui_command(settings, None, port)
            url = ui_url(cmd)
            # Written before the UI answers, so `--inject` works as soon as the demo is reachable.
            write_state(settings.data_dir, DemoState(pid=os.getpid(), url=url, aws_env=sandbox.aws_env))
            children.append(subprocess.Popen(cmd))
            if not _wait_healthy(url, children[-1]):
                return False
            console(stderr=True).print(
                f"\n[bold green]CloudOptim demo is running:[/] {escape(url)}\n"
                + escape(sign_in_line) + "\nClusters: " + escape(", ".join(sandbox.clusters)) + ".\n"
                "Try `cloudoptim demo --inject spot-interruption` in another terminal. Ctrl-C stops everything.\n"
            )
            while not stop.is_set() and all(c.poll() is None for c in children):
                stop.wait(0.5)
        finally:
            _stop_children(children)
    return True


def _demo_admin(db: Engine) -> str:
    """The demo's admin account: created with a generated password on the first run (printed
    once), kept on later runs of the same data directory."""
    from app.services.users import add_user, generate_password, list_users

    if any(u.username == DEMO_ADMIN for u in list_users(db)):
        return (f"Sign in as {DEMO_ADMIN} with the password printed by the first demo run "
                f"(new one: cloudoptim users set {DEMO_ADMIN} --reset-password).")  # fmt: skip
    password = generate_password()
    add_user(db, DEMO_ADMIN, "admin", password, actor="demo", display_name="Demo admin")
    return f"Sign in as {DEMO_ADMIN} with password {password} (shown once; add more: cloudoptim users add)."


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
