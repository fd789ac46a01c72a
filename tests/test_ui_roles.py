"""The role matrix (AppTest): every page of the entrypoint's navigation, opened as viewer, analyst
and admin on a seeded database (a cluster with nodes, a scan's recommendations, an execution, a
Spot warning), renders without an exception and shows only the controls the role may use; the
Settings and users page is out of reach for everyone but an admin.

The pages come from `app/streamlit_app.py` itself, so a page added to the navigation is covered
without touching this file. A control is any widget (button, input, uploader, download); its
label and key are checked against words the role must not see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button, DownloadButton, FileUploader, Toggle, Widget

from app.db.models import Cluster, Node, SpotWarning
from app.db.states import RecStatus, SpotWarningStatus
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.pricing import load_price_book
from app.services.executions import queue_execution
from app.services.scans import scan_and_store
from app.services.spot_views import INTERRUPTION
from app.ui.rec_detail import TABLE_KEY
from engines.registry import default_registry
from tests.framework.estate import wasteful_snapshot
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
PAGES = re.findall(r'_page\("([a-z_]+\.py)"', Path(ENTRY).read_text())
ADMIN_ONLY = {"admin.py"}
ROLES = ("viewer", "analyst", "admin")

# Words in a control's label or key that a role must not see (whole words, any case).
_ANALYST_WRITES = ("apply", "dismiss", "snooze", "unsnooze", "export", "rollback", "roll back", "cancel", "lease",
                   "plan it", "queue", "download", "confirm", "dry run")  # fmt: skip
_ADMIN_WRITES = ("upload", "enable", "disable", "activate", "deactivate", "save", "add", "remove", "delete", "reset",
                 "test connection", "connect", "user", "users", "password", "guardrails")  # fmt: skip
FORBIDDEN = {"viewer": _ANALYST_WRITES + _ADMIN_WRITES, "analyst": _ADMIN_WRITES, "admin": ()}


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        assert cluster.id is not None
        cid = cluster.id
        s.add(Node(cluster_id=cid, name="node-0", instance_type="m5.xlarge", monthly_cost=Decimal("140.16")))
        s.add(Node(cluster_id=cid, name="spot-a", instance_id="i-0spot1", instance_type="m5.large", capacity_type="spot"))
        t0 = utcnow() - timedelta(minutes=10)
        s.add(SpotWarning(event_id="ev-1", detail_type=INTERRUPTION, instance_id="i-0spot1", region="us-east-1",
                          cluster_id=cid, node_name="spot-a", event_time=t0, received_at=t0 + timedelta(seconds=2),
                          deadline_at=t0 + timedelta(seconds=120), status=SpotWarningStatus.HANDLED,
                          handled_in_notice=True))  # fmt: skip
        s.commit()
    scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    with Session(engine) as s:
        open_recs = s.exec(select(RecRow).where(RecRow.status == RecStatus.OPEN)).all()
        assert len(open_recs) >= 2, "the seeded scan must leave open recommendations to show"
        fingerprint = open_recs[-1].fingerprint
    queue_execution(engine, fingerprint, requested_by="ana")
    return engine


def _nodes(node: Any) -> Iterator[Any]:
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _nodes(child)


# Widgets whose label says what they do; other widgets (a checkbox per recommendation, a filter)
# are labelled with data ("drain and remove node-2"), so only their key is checked.
ACTIONS = (Button, DownloadButton, FileUploader, Toggle)


def _controls(at: AppTest) -> list[tuple[str, str]]:
    """(label, key) of every widget on the page and in the sidebar; label "" for non-action widgets."""
    found = []
    for root in (at.main, at.sidebar):
        for node in _nodes(root):
            if isinstance(node, Widget):
                label = str(getattr(node, "label", "") or "") if isinstance(node, ACTIONS) else ""
                found.append((label, str(node.key or "")))
    return found


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z]+", " ", text.lower()) + " "


def _forbidden(role: str, controls: list[tuple[str, str]]) -> list[str]:
    hits = []
    for label, key in controls:
        if key == "sign_out":
            continue  # everyone signs out
        # A label's verb comes first ("Export CSV", "Add user"); later words may be data, e.g. a
        # related recommendation's button "drain-and-remove-node · node/node-3".
        text = " " + " ".join(_words(label).split()[:2]) + " " + _words(key)
        hits += [f"{label!r} (key {key!r}) mentions {word!r}" for word in FORBIDDEN[role] if f" {word} " in text]
    return hits


def _open(role: str, page: str) -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=90), role)
    at.run()
    assert not at.exception, f"{role} at sign-in: {at.exception}"
    at.switch_page(f"../pages/{page}").run()
    if page == "recommendations.py":  # its Apply, Dismiss and Snooze appear for the selected row
        at.session_state[TABLE_KEY] = {"selection": {"rows": [0], "columns": []}}
        at.run()
    return at


def test_the_navigation_lists_the_pages_this_test_walks() -> None:
    assert "overview.py" in PAGES and "admin.py" in PAGES and len(PAGES) >= 9


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", [p for p in PAGES if p not in ADMIN_ONLY])
def test_every_page_renders_for_every_role_with_only_its_controls(seeded: Engine, role: str, page: str) -> None:
    at = _open(role, page)
    assert not at.exception, f"{page} as {role}: {[e.value for e in at.exception]}"
    assert at.title, f"{page} as {role} drew no title"
    assert _forbidden(role, _controls(at)) == [], f"{page} as {role}"


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_the_settings_and_users_page_is_out_of_reach_below_admin(seeded: Engine, role: str) -> None:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=90), role)
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("../pages/admin.py")  # not in this role's navigation
    crafted = sign_in_as(AppTest.from_file("../pages/admin.py", default_timeout=90), role)
    crafted.run()  # the page file run directly, as if its URL were forged
    assert not crafted.exception and "is for admins" in crafted.error[0].value
    assert _controls(crafted) == []


def test_an_admin_reaches_the_settings_and_users_page_with_its_controls(seeded: Engine) -> None:
    at = _open("admin", "admin.py")
    assert not at.exception and at.title[0].value == "Settings and users"
    keys = {key for _, key in _controls(at)}
    assert {"guardrails.protected_namespaces", "schedules.default_uptime", "users_add_name", "audit_csv"} <= keys


def test_the_control_check_sees_an_analysts_apply_and_dismiss_that_a_viewer_lacks(seeded: Engine) -> None:
    analyst = {key for _, key in _controls(_open("analyst", "recommendations.py"))}
    viewer = {key for _, key in _controls(_open("viewer", "recommendations.py"))}
    assert {"rec_apply", "rec_dismiss"} <= analyst
    assert not {"rec_apply", "rec_dismiss", "rec_snooze"} & viewer
