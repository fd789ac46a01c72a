"""The Clusters and nodes page (AppTest, SQLite and PostgreSQL): the cluster and node tables with
request bars for every role, and the admin's forms against real local stand-ins: a cluster added
only after its connection test against the sandbox Kubernetes API, one whose test fails (reason
shown, nothing saved), removal after confirmation, and the AWS account check against moto."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.tables_recs import AuditEvent
from app.pricing import load_price_book
from app.services.collect import store_snapshot
from sandbox.aws import LocalAws
from sandbox.k8s_emulator import LocalKubernetes
from tests.framework.estate import wasteful_snapshot
from tests.test_db_clusters import write_kubeconfig
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0) as cluster:
        cluster.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ip-10-0-0-1"},
                     "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}})  # fmt: skip
        yield cluster


def _seed(engine: Engine) -> None:
    """prod-east with its four nodes and pods, stored the way a collection stores them."""
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1", context="prod-east")
        s.add(cluster)
        s.commit()
        s.refresh(cluster)
    store_snapshot(engine, cluster, wasteful_snapshot(), load_price_book())


def _open(role: str) -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), role)
    at.run()
    at.switch_page("../pages/clusters.py").run()
    assert not at.exception
    return at


def _names(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(Cluster.name).order_by(Cluster.name)).all())


def _fill(at: AppTest, name: str, context: str, kubeconfig: Path, **extra: str) -> AppTest:
    at.text_input(key="cluster_add_name").input(name)
    at.text_input(key="cluster_add_context").input(context)
    at.text_input(key="cluster_add_kubeconfig").input(str(kubeconfig))
    for key, value in extra.items():
        at.text_input(key=f"cluster_add_{key}").input(value)
    next(b for b in at.button if b.label == "Test the connection and add").click().run()
    assert not at.exception
    return at


def test_a_viewer_sees_clusters_and_node_request_bars_but_no_add_remove_or_aws_controls(engine: Engine) -> None:
    _seed(engine)
    at = _open("viewer")
    clusters = at.dataframe[0].value
    assert list(clusters["Cluster"]) == ["prod-east"] and list(clusters["Nodes"]) == [4]
    assert list(clusters["Status"]) == ["ok"] and clusters["Last collected"][0] != "never"
    nodes = at.dataframe[1].value
    assert list(nodes["Node"]) == ["node-0", "node-1", "node-2", "node-3"]
    node0 = nodes.iloc[0]
    assert node0["CPU requested"] == pytest.approx(0.5 / 3.92) and node0["CPU (cores)"] == "0.50 / 3.92"
    assert node0["Memory (GiB)"] == "1.0 / 14.0" and node0["Zone"] == "us-east-1a" and node0["Type"] == "m5.xlarge"
    assert node0["Capacity"] == "on-demand" and node0["Monthly"].startswith("$")
    assert not at.text_input and not [b for b in at.button if b.label != "Sign out"]


def test_a_cluster_whose_connection_test_fails_is_not_saved_and_the_reason_is_shown(engine: Engine, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "dead")  # its server is 127.0.0.1:9: nothing listens
    at = _fill(_open("admin"), "dead-one", "dead", kubeconfig)
    failure = next(e.value for e in at.error if "connection test failed" in e.value)
    assert "nothing was saved" in failure and "connection refused" in failure
    assert _names(engine) == []
    assert at.text_input(key="cluster_add_name").value == "dead-one"  # what was typed stays in the form


def test_a_wrong_context_and_an_unreachable_usage_source_are_both_named(engine: Engine, tmp_path: Path,
                                                                         k8s: LocalKubernetes) -> None:  # fmt: skip
    kubeconfig = k8s.write_kubeconfig(tmp_path / "kubeconfig", "lab")
    at = _fill(_open("admin"), "lab", "lab", kubeconfig, usage="http://127.0.0.1:9/")
    failure = next(e.value for e in at.error if "connection test failed" in e.value)
    assert "usage source" in failure and "connection refused" in failure
    at = _fill(at, "lab", "no-such-context", kubeconfig, usage="")
    failure = next(e.value for e in at.error if "connection test failed" in e.value)
    assert "not found" in failure and "available: lab" in failure
    assert _names(engine) == []


def test_an_admin_adds_a_cluster_that_answers_on_the_sandbox_kubernetes_api(engine: Engine, tmp_path: Path,
                                                                            k8s: LocalKubernetes) -> None:  # fmt: skip
    kubeconfig = k8s.write_kubeconfig(tmp_path / "kubeconfig", "lab")
    traffic = tmp_path / "traffic.csv"
    traffic.write_text("namespace,source,destination,bytes_per_day\nshop,web,api,1000\n", encoding="utf-8")
    at = _fill(_open("admin"), "lab", "lab", kubeconfig, traffic=str(traffic))
    assert not at.error, [e.value for e in at.error]
    assert "Added lab" in at.success[0].value and "1 node" in at.success[0].value
    with Session(engine) as s:
        cluster = s.exec(select(Cluster)).one()
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "cluster added")).one()
    assert (cluster.context, cluster.kubeconfig_path, cluster.traffic_source) == ("lab", str(kubeconfig), str(traffic))
    assert audit.actor == "admin" and audit.target == "cluster/lab"
    at.run()
    assert list(at.dataframe[0].value["Status"]) == ["never collected"]


def test_removing_a_cluster_asks_first_shows_what_goes_and_then_removes_it(engine: Engine) -> None:
    _seed(engine)
    at = _open("admin")
    at.button(key="cluster_remove").click().run()
    warning = at.warning[0].value
    assert "Remove **prod\\-east**?" in warning and "4 node(s)" in warning and "0 execution(s)" in warning
    at.button(key="cluster_remove_no").click().run()
    assert _names(engine) == ["prod-east"] and not at.warning
    at.button(key="cluster_remove").click().run()
    at.button(key="cluster_remove_yes").click().run()
    assert not at.exception and _names(engine) == []
    assert "Removed prod\\-east: 0 recommendations, 0 scan runs, 4 nodes deleted" in at.success[0].value
    assert any("No cluster is connected yet" in i.value for i in at.info)


def test_the_aws_check_shows_the_account_behind_the_credential_chain(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalAws() as aws:
        for key, value in aws.env().items():
            monkeypatch.setenv(key, value)
        at = _open("admin")
        at.button(key="aws_check").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Account **123456789012**" in at.success[0].value


def test_the_aws_check_without_credentials_says_what_is_missing(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:  # fmt: skip
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role on a laptop: do not wait for one
    at = _open("admin")
    at.button(key="aws_check").click().run()
    problem = at.error[0].value.replace("\\", "")
    assert "no usable AWS credentials" in problem and "AWS_ACCESS_KEY_ID" in problem and not at.success
