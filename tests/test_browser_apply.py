"""One-click apply in the real UI (Playwright + Debian's Chromium) against `cloudoptim demo`: the
analyst selects a consolidation (a binpack drain), confirms it, follows the execution on the
Executions page until it succeeds, and the sandbox's Kubernetes API shows the node gone and its
pods running on other nodes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app.bootstrap import open_database
from app.services.rec_actions import review_apply
from app.services.recommendations import RecFilter, RecView, query
from app.settings import load_settings
from tests.browser import browser_page, chromium_path, screenshot, wait_for_run, wait_for_widgets
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
CLI = [str(Path(sys.executable).parent / "cloudoptim")]
ROW_PX, HEADER_PX = 35, 35  # the data grid's default row and header heights
VISIBLE_ROWS = 6  # rows the grid shows without scrolling on a 900 px high window


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/_stcore/health", timeout=2).ok
    except requests.RequestException:
        return False


@pytest.fixture
def demo_url(tmp_path: Path) -> Iterator[str]:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/setup.sh --system installs it)")
        pytest.skip("chromium is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    # CLOUDOPTIM_DATA_DIR is the test's own (conftest), so the demo's database is this test's.
    proc = subprocess.Popen([*CLI, "demo", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is not None or _healthy(url), timeout=240, interval=0.5)
        assert proc.poll() is None, "the demo exited before its UI answered"
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _consolidation() -> tuple[int, RecView]:
    """The first open binpack drain that moves pods and passes every check, with its table row."""
    settings = load_settings()
    db = open_database(settings)
    try:
        rows = query(db, RecFilter(engine="binpack"))
        for index, rec in enumerate(rows):
            if (rec.engine, rec.action) == ("binpack", "drain-and-remove-node") and rec.action_spec.get("moves") \
                    and review_apply(db, rec, settings.executor).can_apply:  # fmt: skip
                return index, rec
    finally:
        db.dispose()
    raise AssertionError("the demo estate has no applicable binpack drain that moves pods")


def _core(cluster: str) -> Any:
    from kubernetes import client, config

    kubeconfig = load_settings().data_dir / "sandbox" / "kubeconfig"
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context=cluster))


def _owner(pod: Any) -> tuple[str, str] | None:
    refs = [r for r in pod.metadata.owner_references or [] if r.controller]
    return (refs[0].kind, refs[0].name) if refs else None


def test_an_analyst_applies_a_consolidation_and_the_node_is_gone_with_its_pods_running_elsewhere(
    demo_url: str, tmp_path: Path
) -> None:
    index, rec = _consolidation()
    assert index < VISIBLE_ROWS, f"the drain is row {index}: scroll support needed"
    node = rec.action_spec["node"]
    core = _core(str(rec.cluster))
    moved = {(m["namespace"], m["pod"]) for m in rec.action_spec["moves"]}
    owners = {(ns, _owner(core.read_namespaced_pod(name, ns))) for ns, name in moved}
    assert all(owner is not None for _, owner in owners), "every moved pod has a controller that recreates it"

    with browser_page() as page:
        page.goto(f"{demo_url}/recommendations")
        wait_for_run(page)
        # Five engines' rows share the table: show bin packing's only, as an analyst would.
        page.get_by_test_id("stSelectbox").filter(has_text="Engine").click()
        page.get_by_role("option", name="binpack", exact=True).click()
        wait_for_run(page)
        wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')
        box = page.get_by_test_id("stDataFrame").first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 15, box["y"] + HEADER_PX + ROW_PX * index + ROW_PX // 2)  # its selection box
        wait_for_run(page)
        page.get_by_role("heading", name=f"drain-and-remove-node · node/{node}").wait_for(timeout=30000)
        page.get_by_role("button", name="Apply…").click()
        confirm = page.get_by_role("button", name="Confirm apply")
        confirm.wait_for(timeout=30000)
        assert page.get_by_text(f"cordon node {node}").first.is_visible()
        assert page.get_by_text("disruption budget").first.is_visible()
        screenshot(page, tmp_path / "confirm.png")
        confirm.click()
        link = page.get_by_role("link", name="on the Executions page")
        link.wait_for(timeout=30000)
        link.click()
        # The page refreshes itself while the execution runs: no reload here.
        page.get_by_role("heading", name="succeeded").first.wait_for(timeout=180000)
        wait_for_run(page)
        assert page.get_by_role("heading", name="Execution 1: succeeded").count() == 1
        assert page.get_by_text(f"delete Node {node}").first.is_visible()
        screenshot(page, tmp_path / "executions.png")

    assert node not in [n.metadata.name for n in core.list_node().items]

    def moved_elsewhere() -> bool:
        pods = core.list_pod_for_all_namespaces().items
        running = {(p.metadata.namespace, _owner(p)) for p in pods
                   if p.status.phase == "Running" and p.spec.node_name not in (None, node)}  # fmt: skip
        return owners <= running and not [p for p in pods if p.spec.node_name == node]

    wait_until(moved_elsewhere, timeout=60, interval=0.5)
