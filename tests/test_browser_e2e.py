"""The analyst's web app end to end in Debian's Chromium (Playwright) against one `cloudoptim demo`:
an analyst builds and applies a plan (a consolidation and a rightsizing) and the sandbox's
Kubernetes API shows both changes; a viewer finds no Apply anywhere; an admin uploads a valid and
a hostile engine module and the demo's worker reports on both. Every page is saved as a
screenshot per role under the artifacts directory (`$TEST_ARTIFACTS`, else
tests/artifacts/e2e/)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from app.bootstrap import open_database
from app.db.states import ExecutionState
from app.services.executions import list_executions
from app.services.rec_actions import review_apply
from app.services.recommendations import RecFilter, RecView, query
from app.settings import load_settings
from cli.demo_state import read_state
from engines.quantity import parse_bytes, parse_cpu
from tests.browser import (
    PASSWORD,
    Demo,
    add_account,
    browser_page,
    chromium_path,
    click_row,
    open_page,
    running_demo,
    screenshot,
    sign_in,
    tour,
    wait_for_run,
    wait_for_widgets,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS") or Path(__file__).parent / "artifacts") / "e2e"
FIXTURES = Path(__file__).parent / "browser_fixtures"
APPLY = re.compile(r"^Apply")  # "Apply…", "Apply plan", "Apply selected"…: none may show for a viewer
DONE = {ExecutionState.SUCCEEDED, ExecutionState.FAILED, ExecutionState.REFUSED, ExecutionState.CANCELLED}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the three journeys (it takes minutes to start), with an analyst and a viewer."""
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/setup.sh --system installs it)")
        pytest.skip("chromium is not installed")
    with running_demo(tmp_path_factory.mktemp("e2e") / "data") as running:
        add_account("ana", "analyst", running.env)
        add_account("vera", "viewer", running.env)
        yield running


@pytest.fixture(autouse=True)
def _in_demo_data_dir(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test process reads the demo's database and kubeconfig (conftest gave each test its own)."""
    monkeypatch.setenv("CLOUDOPTIM_DATA_DIR", str(demo.data_dir))


def _open_recs(engine: str) -> list[tuple[RecView, bool]]:
    settings = load_settings()
    db = open_database(settings)
    try:
        return [(r, review_apply(db, r, settings.executor).can_apply) for r in query(db, RecFilter(engine=engine))]
    finally:
        db.dispose()


def _deployment(pod_owner: tuple[str, str] | None) -> str | None:
    """The Deployment a ReplicaSet-owned pod belongs to (the ReplicaSet's name without its hash)."""
    return pod_owner[1].rsplit("-", 1)[0] if pod_owner and pod_owner[0] == "ReplicaSet" else None


def plan_pair() -> tuple[RecView, RecView]:
    """An applicable binpack drain that moves pods, and an applicable rightsizing on the same
    cluster of a workload the drain does not move (so the plan has no conflict)."""
    drains = [
        r
        for r, ok in _open_recs("binpack")
        if ok and r.action == "drain-and-remove-node" and r.action_spec.get("moves")
    ]
    assert drains, "the demo estate has no applicable binpack drain that moves pods"
    drain = drains[0]
    core = core_api(str(drain.cluster))
    moved = {(m["namespace"], _deployment(owner(core.read_namespaced_pod(m["pod"], m["namespace"]))))
             for m in drain.action_spec["moves"]}  # fmt: skip
    # A Deployment first: its new pods need no volume to follow them.
    for rec, ok in sorted(
        _open_recs("rightsizing"), key=lambda x: x[0].action_spec.get("workload_kind") != "Deployment"
    ):
        spec = rec.action_spec
        if ok and rec.cluster == drain.cluster and rec.action == "set-requests-limits" \
                and (spec["namespace"], spec["workload_name"]) not in moved \
                and rec.fingerprint not in drain.conflicts_with:  # fmt: skip
            return drain, rec
    raise AssertionError(f"no applicable rightsizing on {drain.cluster} outside the drain of {drain.target}")


def core_api(cluster: str) -> Any:
    from kubernetes import client, config

    kubeconfig = load_settings().data_dir / "sandbox" / "kubeconfig"
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context=cluster))  # type: ignore[no-untyped-call]


def container_resources(cluster: str, spec: dict[str, Any]) -> dict[str, str]:
    """The live requests of the container a set-requests-limits spec names."""
    from kubernetes import client, config

    kubeconfig = load_settings().data_dir / "sandbox" / "kubeconfig"
    apps = client.AppsV1Api(config.new_client_from_config(config_file=str(kubeconfig), context=cluster))  # type: ignore[no-untyped-call]
    read = {"Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
            "DaemonSet": apps.read_namespaced_daemon_set}[spec["workload_kind"]]  # fmt: skip
    workload: Any = read(spec["workload_name"], spec["namespace"])
    container = next(c for c in workload.spec.template.spec.containers if c.name == spec["container"])
    return dict((container.resources and container.resources.requests) or {})


def owner(pod: Any) -> tuple[str, str] | None:
    refs = [r for r in pod.metadata.owner_references or [] if r.controller]
    return (refs[0].kind, refs[0].name) if refs else None


def _secrets(demo: Demo) -> list[str]:
    """The sandbox's AWS secrets the demo's worker holds in its environment (long enough to search)."""
    state = read_state(demo.data_dir)
    env = state.aws_env if state else {}
    return [v for k, v in env.items() if ("SECRET" in k or "TOKEN" in k) and len(v) >= 8]


def _finished(fingerprints: list[str]) -> dict[str, ExecutionState] | None:
    """The states of the executions of `fingerprints` once every one has finished, else None."""
    db = open_database(load_settings())
    try:
        found = {fp: list_executions(db, fingerprint=fp, limit=1) for fp in fingerprints}
    finally:
        db.dispose()
    states = {fp: rows[0].state for fp, rows in found.items() if rows}
    return states if len(states) == len(fingerprints) and set(states.values()) <= DONE else None


def _pick(page: Page, engine: str, target: str) -> None:
    """Narrow the Plan page's tick list to `target` of `engine` and tick it."""
    page.get_by_test_id("stSelectbox").filter(has_text="Engine").click()
    page.get_by_role("option", name=engine, exact=True).click()
    wait_for_run(page)
    search = page.get_by_label("Target contains")
    search.fill(target)
    search.press("Enter")
    wait_for_run(page)
    box = page.get_by_test_id("stCheckbox").filter(has_text=target).first
    box.wait_for(timeout=30000)
    box.locator("label").first.click()
    wait_for_run(page)


def test_an_analyst_applies_a_plan_and_the_sandbox_shows_the_node_drained_and_the_requests_changed(
    demo: Demo,
) -> None:
    drain, resize = plan_pair()
    cluster, node = str(drain.cluster), drain.action_spec["node"]
    core = core_api(cluster)
    moved = {(m["namespace"], m["pod"]) for m in drain.action_spec["moves"]}
    owners = {(ns, owner(core.read_namespaced_pod(name, ns))) for ns, name in moved}
    assert all(o is not None for _, o in owners), "every moved pod has a controller that recreates it"
    spec = resize.action_spec
    before = container_resources(cluster, spec)

    with browser_page(1400, 1200, ARTIFACTS / "FAILED-analyst.png") as page:
        sign_in(page, demo.url, "ana", PASSWORD)
        open_page(page, "Plan")
        page.get_by_test_id("stSelectbox").filter(has_text="Cluster").click()
        page.get_by_role("option", name=re.compile(rf"^{re.escape(cluster)}(\s|$)")).click()
        wait_for_run(page)
        _pick(page, "binpack", drain.target)
        _pick(page, "rightsizing", resize.target)
        page.get_by_role("heading", name="This plan (2 steps)").wait_for(timeout=60000)
        wait_for_widgets(page, '[data-testid="stMetric"]')
        assert page.get_by_text("Conflict:").count() == 0, "the two chosen steps conflict"
        assert page.get_by_text("Projected monthly delta").first.is_visible()
        screenshot(page, ARTIFACTS / "analyst-plan-built.png")
        page.get_by_role("button", name="Apply plan").click()
        page.get_by_text(re.compile(r"Plan #\d+ applied: executions")).wait_for(timeout=60000)
        screenshot(page, ARTIFACTS / "analyst-plan-applied.png")

        states = wait_until(lambda: _finished([drain.fingerprint, resize.fingerprint]), timeout=300, interval=1)
        assert states is not None and set(states.values()) == {ExecutionState.SUCCEEDED}, states
        page.get_by_role("link", name="Open the Executions page").click()
        wait_for_run(page)
        page.get_by_role("heading", name=re.compile(r"Execution \d+: succeeded")).first.wait_for(timeout=60000)
        page.wait_for_timeout(1500)  # its step log draws below the heading
        screenshot(page, ARTIFACTS / "analyst-executions.png")
        assert node not in [n.metadata.name for n in core.list_node().items if not n.spec.unschedulable]

        def moved_elsewhere() -> bool:
            pods = core.list_pod_for_all_namespaces().items
            running = {(p.metadata.namespace, owner(p)) for p in pods
                       if p.status.phase == "Running" and p.spec.node_name not in (None, node)}  # fmt: skip
            return owners <= running and not [p for p in pods if p.spec.node_name == node]

        wait_until(moved_elsewhere, timeout=60, interval=0.5)
        after = container_resources(cluster, spec)
        assert after != before, f"the requests of {resize.target} did not change: {after}"
        if spec.get("cpu_request") is not None:
            assert abs(parse_cpu(after["cpu"]) - spec["cpu_request"]) < 0.001, after
        if spec.get("memory_request") is not None:
            assert abs(parse_bytes(after["memory"]) - spec["memory_request"]) < 2**20, after
        tour(page, ARTIFACTS, "analyst-")


def test_a_viewer_finds_no_apply_button_on_overview_recommendations_or_plan(demo: Demo) -> None:
    with browser_page(1400, 1200, ARTIFACTS / "FAILED-viewer.png") as page:
        sign_in(page, demo.url, "vera", PASSWORD)
        wait_for_widgets(page, '[data-testid="stMetric"]')
        assert page.get_by_role("button", name=APPLY).count() == 0, "Overview offers Apply to a viewer"
        open_page(page, "Recommendations")
        wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')
        click_row(page, 0)  # select the top row: its details show
        page.get_by_text("Evidence").first.wait_for(timeout=30000)
        assert page.get_by_role("button", name=APPLY).count() == 0, "a selected recommendation offers Apply"
        screenshot(page, ARTIFACTS / "viewer-recommendations-selected.png")
        open_page(page, "Plan")
        page.get_by_text("plans are read-only for you").first.wait_for(timeout=30000)
        assert page.get_by_role("button", name=APPLY).count() == 0, "the Plan page offers Apply"
        assert page.get_by_test_id("stCheckbox").count() == 0, "a viewer can tick plan steps"
        nav = page.get_by_test_id("stSidebarNav")
        assert nav.get_by_role("link", name="Settings and users").count() == 0
        tour(page, ARTIFACTS, "viewer-")


def test_an_admin_uploads_a_valid_and_a_hostile_engine_and_sees_both_reports(demo: Demo) -> None:
    with browser_page(1400, 1600, ARTIFACTS / "FAILED-admin.png") as page:
        sign_in(page, demo.url, "admin", demo.admin_password)
        open_page(page, "Engines")
        for module in ("quiet_nodes.py", "env_snoop.py"):
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(FIXTURES / module))
            page.get_by_text(module).first.wait_for(timeout=30000)  # the uploader lists the chosen file
            page.get_by_role("button", name="Upload engine").click()
            wait_for_run(page)
            page.get_by_test_id("stExpander").filter(has_text=module.removesuffix(".py").replace("_", "-")
                                                     ).first.wait_for(timeout=30000)  # fmt: skip

        def reported() -> bool:
            open_page(page, "Engines")  # the worker validates in the background: read the page again
            return bool(
                page.get_by_test_id("stExpander").filter(has_text="quiet-nodes: passed").count()
                and page.get_by_test_id("stExpander").filter(has_text="env-snoop: failed").count()
            )

        wait_until(reported, timeout=240, interval=3)
        hostile = page.get_by_test_id("stExpander").filter(has_text="env-snoop: failed").first
        reason = hostile.locator("summary").inner_text()
        assert "RuntimeError" in reason or "error" in reason.lower(), reason
        hostile.locator("summary").click()
        wait_for_run(page)
        text = hostile.inner_text()
        assert "AWS_SECRET_ACCESS_KEY" not in text, "the sandbox let the module see AWS credentials"
        for secret in _secrets(demo):
            assert secret not in text, "the hostile module's report shows a credential of the demo"
        screenshot(page, ARTIFACTS / "admin-engines-uploads.png")
        tour(page, ARTIFACTS, "admin-")
    assert os.environ["CLOUDOPTIM_DATA_DIR"] == str(demo.data_dir)
    assert (ARTIFACTS / "admin-admin.png").stat().st_size > 10_000
