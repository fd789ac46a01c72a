"""The Spot events page (AppTest): each warning with its timeline and whether it was handled inside
the notice, quarantined messages with their reasons, and the sandbox's inject control."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster, Node, QuarantinedMessage, SpotWarning
from app.db.states import SpotWarningStatus
from app.db.types import utcnow
from app.services.spot_views import INTERRUPTION, REBALANCE, sandbox_spot_nodes, spot_warnings
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")


def _seed(engine: Engine, *, sandbox: bool = False) -> None:
    t0 = utcnow() - timedelta(minutes=10)
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1", is_sandbox=sandbox)
        s.add(cluster)
        s.commit()
        assert cluster.id is not None
        s.add(SpotWarning(event_id="ev-1", detail_type=INTERRUPTION, instance_id="i-0spot1", region="us-east-1",
                          cluster_id=cluster.id, node_name="spot-a", event_time=t0, received_at=t0 + timedelta(seconds=1.5),
                          cordoned_at=t0 + timedelta(seconds=1.8), replacement_launched_at=t0 + timedelta(seconds=3),
                          replacement_instance_id="i-0new", drained_at=t0 + timedelta(seconds=41),
                          deadline_at=t0 + timedelta(seconds=120), status=SpotWarningStatus.HANDLED,
                          handled_in_notice=True, feasibility="fits: 3 pods, longest grace 30 s"))  # fmt: skip
        s.add(SpotWarning(event_id="ev-2", detail_type=REBALANCE, instance_id="i-0spot2", region="us-east-1",
                          cluster_id=cluster.id, node_name="spot-b", event_time=t0 - timedelta(minutes=5),
                          received_at=t0 - timedelta(minutes=5), status=SpotWarningStatus.RECORDED))  # fmt: skip
        s.add(QuarantinedMessage(message_id="m-9", reason="not an EventBridge envelope: a Lambda SQS event", body="{}"))
        s.add(Node(cluster_id=cluster.id, name="spot-c", instance_id="i-0spot3", instance_type="m5.large",
                   capacity_type="spot"))  # fmt: skip
        s.add(Node(cluster_id=cluster.id, name="od-a", instance_id="i-0od", instance_type="m5.large"))
        s.commit()


def _open() -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=90))
    at.run()
    at.switch_page("../pages/spot_events.py").run()
    assert not at.exception
    return at


def test_without_warnings_the_page_says_where_they_come_from(engine: Engine) -> None:
    at = _open()
    assert "No Spot interruption warning" in at.info[0].value
    assert not [e for e in at.expander if e.label.startswith("Sandbox")]


def test_each_warning_is_listed_with_its_timeline_and_whether_it_was_handled_in_the_notice(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Interruptions": "1", "Rebalance recommendations": "1", "Handled inside the notice": "1 of 1"}
    table = at.dataframe[0].value
    assert table["Kind"].tolist() == ["interruption", "rebalance"]
    assert table["In notice"].tolist() == ["yes", "n/a"]
    assert table.loc[0, "Cordoned"].endswith("(+1.8 s)") and table.loc[0, "Drained"].endswith("(+41 s)")
    steps = at.table[0].value
    assert steps["Step"].tolist() == [
        "event time",
        "received",
        "cordoned",
        "replacement launched",
        "drained",
        "deadline",
    ]
    assert steps["Before the deadline (s)"].tolist()[4] == "79"
    assert "handled inside the notice: yes" in at.subheader[0].value


def test_quarantined_messages_are_listed_with_their_reason(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    quarantine = next(e for e in at.expander if e.label.startswith("Quarantined"))
    assert quarantine.label == "Quarantined queue messages (1)"
    assert quarantine.dataframe[0].value.loc[0, "Reason"] == "not an EventBridge envelope: a Lambda SQS event"


def test_the_view_of_a_warning_still_being_handled_says_not_yet() -> None:
    from app.services.spot_views import SpotWarningView

    now = utcnow()
    view = SpotWarningView(id=1, event_id="e", kind="interruption", instance_id="i-1", cluster=None, node=None,
                           status=SpotWarningStatus.HANDLING, event_time=now, received_at=now, cordoned_at=None,
                           replacement_launched_at=None, replacement_instance_id=None, drained_at=None,
                           deadline_at=now + timedelta(seconds=120), handled_in_notice=None, feasibility=None,
                           message="")  # fmt: skip
    assert view.in_notice == "not yet"
    assert [t.at is None for t in view.timeline] == [False, False, True, True, True, False]


def test_on_the_sandbox_the_spot_nodes_can_be_interrupted_and_without_a_demo_the_page_says_why(engine: Engine) -> None:
    _seed(engine, sandbox=True)
    assert [n.node for n in sandbox_spot_nodes(engine)] == ["spot-c"]
    at = _open()
    assert at.selectbox(key="spot_inject_node").options == ["prod-east · spot-c · i-0spot3 (m5.large)"]
    at.button(key="spot_inject").click().run()
    assert not at.exception
    assert any("Not injected" in e.value and "no demo is running" in e.value for e in at.error)
    assert len(spot_warnings(engine)) == 2  # nothing recorded by the page itself
