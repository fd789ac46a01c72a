"""Cluster administration services on SQLite and PostgreSQL, against the sandbox Kubernetes API,
moto and small local HTTP servers: the role check, the connection test of every source, node
requests from the stored snapshot, engine stats from a real scan, and the AWS account check."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster
from app.db.states import Role
from app.db.tables_recs import AuditEvent
from app.pricing import load_price_book
from app.services.access import AccessDenied, Principal
from app.services.cluster_admin import (
    ConnectionFailed,
    add_cluster,
    check_aws,
    check_connection,
    cluster_nodes,
    engine_stats,
    remove_cluster_as,
)
from app.services.clusters import ClusterError
from app.services.collect import store_snapshot
from app.services.scans import scan_and_store
from app.settings import Settings
from engines.registry import default_registry
from sandbox.aws import LocalAws
from sandbox.k8s_emulator import LocalKubernetes
from tests.framework.estate import wasteful_snapshot

ADMIN, ANALYST = Principal("root", Role.ADMIN), Principal("ana", Role.ANALYST)


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0) as k8s:
        yield k8s.write_kubeconfig(tmp_path / "kubeconfig", "lab")


@pytest.fixture
def not_prometheus() -> Iterator[str]:
    """An HTTP server that answers 200 with an HTML page, as a wrong URL (a Grafana) would."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html><title>Grafana</title></html>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _clusters(engine: Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(Cluster.name)).all())


def test_an_analyst_cannot_add_or_remove_a_cluster(engine: Engine, settings: Settings, kubeconfig: Path) -> None:
    with pytest.raises(AccessDenied, match="clusters needs the admin role"):
        add_cluster(engine, settings, name="lab", context="lab", region="us-east-1", kubeconfig=str(kubeconfig),
                    actor=ANALYST)  # fmt: skip
    add_cluster(engine, settings, name="lab", context="lab", region="us-east-1", kubeconfig=str(kubeconfig), actor=ADMIN)
    with pytest.raises(AccessDenied):
        remove_cluster_as(engine, "lab", actor=ANALYST)
    assert _clusters(engine) == ["lab"]
    removal = remove_cluster_as(engine, "lab", actor=ADMIN)
    assert removal.summary().startswith("removed lab") and _clusters(engine) == []
    with Session(engine) as s:
        assert [a.action for a in s.exec(select(AuditEvent).where(AuditEvent.actor == "root").order_by(col(AuditEvent.id)))] == [
            "cluster added", "cluster removed"]  # fmt: skip


def test_the_connection_test_reports_the_server_and_accepts_file_sources(settings: Settings, kubeconfig: Path,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    usage = tmp_path / "usage"
    usage.mkdir()
    (usage / "usage.csv").write_text("timestamp,namespace,pod,container,cpu_cores,memory_bytes\n", encoding="utf-8")
    check = check_connection(settings, context="lab", kubeconfig=str(kubeconfig), usage_source=str(usage))
    assert check.ok and check.server_version.startswith("v1.") and check.nodes_seen == 0


def test_each_failing_source_is_named_with_its_reason(settings: Settings, kubeconfig: Path, tmp_path: Path,
                                                      not_prometheus: str) -> None:  # fmt: skip
    traffic = tmp_path / "traffic.csv"
    traffic.write_text("from,to\nweb,api\n", encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    check = check_connection(settings, context="lab", kubeconfig=str(kubeconfig), usage_source=not_prometheus,
                             traffic_source=str(traffic))  # fmt: skip
    assert not check.ok and check.server_version  # Kubernetes itself answered
    assert [p.split(":")[0] for p in check.problems] == ["usage source http", "traffic source"]
    assert "not Prometheus' query API" in check.problems[0] and "missing columns" in check.problems[1]
    check = check_connection(settings, context="lab", kubeconfig=str(kubeconfig), usage_source=str(empty))
    assert check.problems == [f"usage source {empty}: the directory holds no usage CSV file"]
    check = check_connection(settings, context="lab", kubeconfig=str(tmp_path / "missing"))
    assert check.problems == [f"Kubernetes: kubeconfig {tmp_path / 'missing'} does not exist"]


def test_a_failed_test_or_a_taken_name_saves_nothing(engine: Engine, settings: Settings, kubeconfig: Path) -> None:
    with pytest.raises(ConnectionFailed, match="nothing saved: usage source http://127.0.0.1:9: cannot reach it"):
        add_cluster(engine, settings, name="lab", context="lab", region="us-east-1", kubeconfig=str(kubeconfig),
                    usage_source="http://127.0.0.1:9", actor=ADMIN)  # fmt: skip
    assert _clusters(engine) == []
    with pytest.raises(ClusterError, match="unknown AWS region"):
        add_cluster(engine, settings, name="lab", context="lab", region="mars-1", kubeconfig=str(kubeconfig), actor=ADMIN)
    add_cluster(engine, settings, name="lab", context="lab", region="us-east-1", kubeconfig=str(kubeconfig), actor=ADMIN)
    with pytest.raises(ClusterError, match="already exists"):
        add_cluster(engine, settings, name="lab", context="lab", region="us-east-1", kubeconfig=str(kubeconfig), actor=ADMIN)
    assert _clusters(engine) == ["lab"]


def test_node_requests_and_engine_stats_come_from_the_stored_snapshot_and_the_last_scan(engine: Engine) -> None:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        s.refresh(cluster)
    assert cluster.id is not None
    prices = load_price_book()
    store_snapshot(engine, cluster, wasteful_snapshot(), prices)
    nodes = {n.name: n for n in cluster_nodes(engine, cluster.id)}
    assert nodes["node-0"].cpu_requested == pytest.approx(0.5) and nodes["node-0"].cpu_allocatable == pytest.approx(3.92)
    assert nodes["node-2"].memory_requested == 2**29 and nodes["node-0"].monthly_cost is not None
    names = default_registry().names()
    assert engine_stats(engine, cluster.id, names)["binpack"].scanned_at is None
    outcome = scan_and_store(engine, wasteful_snapshot(), default_registry(), prices, cluster_id=cluster.id)
    stats = engine_stats(engine, cluster.id, names)
    binpack = next(o for o in outcome.outcomes if o.engine == "binpack")
    assert stats["binpack"].recommendations == len(binpack.result.recommendations) > 0
    expected = sum((r.monthly_savings for r in binpack.result.recommendations), start=Decimal("0"))
    assert stats["binpack"].monthly_savings == expected and stats["binpack"].open_savings == expected
    assert stats["binpack"].scanned_at is not None and stats["binpack"].error is None


def test_the_aws_check_names_the_account_and_a_region_it_does_not_have(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalAws() as aws:
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws.env()["AWS_ENDPOINT_URL"])
        ok = check_aws("us-east-1", actor=ADMIN, session=aws.boto3_session())
        assert ok.account_id == "123456789012" and "eu-west-1" in ok.regions and not ok.problems
        missing = check_aws("ap-nowhere-9", actor=ADMIN, session=aws.boto3_session())
        assert missing.account_id == "123456789012"
        assert missing.problems[0].startswith("region ap-nowhere-9 is not enabled for this account (enabled: ")
    with pytest.raises(AccessDenied):
        check_aws("us-east-1", actor=ANALYST)
