"""One-click apply in the real UI (Playwright + Debian's Chromium) against `cloudoptim demo`: the
analyst signs in, selects a consolidation (a binpack drain), confirms it, follows the execution on the
Executions page until it succeeds, and the sandbox's Kubernetes API shows the node gone and its
pods running on other nodes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import open_database
from app.services.rec_actions import review_apply
from app.services.recommendations import RecFilter, RecView, query
from app.settings import load_settings
from tests.browser import (
    PASSWORD,
    add_account,
    browser_page,
    chromium_path,
    click_row,
    open_page,
    running_demo,
    screenshot,
    sign_in,
    wait_for_run,
    wait_for_widgets,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
VISIBLE_ROWS = 10  # rows the grid shows without scrolling inside it


@pytest.fixture
def demo_url() -> Iterator[str]:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/setup.sh --system installs it)")
        pytest.skip("chromium is not installed")
    # CLOUDOPTIM_DATA_DIR is the test's own (conftest), so the demo's database is this test's.
    with running_demo(Path(os.environ["CLOUDOPTIM_DATA_DIR"])) as demo:
        add_account("ana", "analyst", demo.env)
        yield demo.url


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
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context=cluster))  # type: ignore[no-untyped-call]


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

    with browser_page(failure_shot=tmp_path / "FAILED.png") as page:
        sign_in(page, demo_url, "ana", PASSWORD)
        open_page(page, "Recommendations")
        # Five engines' rows share the table: show bin packing's only, as an analyst would.
        page.get_by_test_id("stSelectbox").filter(has_text="Engine").click()
        page.get_by_role("option", name="binpack", exact=True).click()
        wait_for_run(page)
        wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')
        click_row(page, index)  # its selection box
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
