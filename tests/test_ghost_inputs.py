"""`cluster_node_instances` on SQLite and PostgreSQL: the providerID-derived instance ids of every
registered cluster's nodes, what the ghost probe must leave alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.db import make_engine, upgrade
from app.db.models import Cluster, Node
from app.services.ghost_inputs import cluster_node_instances


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def add_cluster(db: Engine, name: str, nodes: dict[str, str | None]) -> int:
    with Session(db) as session:
        cluster = Cluster(name=name, region="us-east-1")
        session.add(cluster)
        session.commit()
        assert cluster.id is not None
        for node, instance_id in nodes.items():
            session.add(Node(cluster_id=cluster.id, name=node, instance_id=instance_id))
        session.commit()
        return cluster.id


def test_an_empty_database_has_no_cluster_nodes(db: Engine) -> None:
    assert cluster_node_instances(db) == ()


def test_the_node_instances_of_every_cluster_are_listed_once_and_sorted(db: Engine) -> None:
    add_cluster(db, "prod-east", {"ip-10-0-1-5": "i-0bbb", "ip-10-0-1-6": "i-0aaa", "fargate-1": None})
    add_cluster(db, "staging-east", {"ip-10-1-0-7": "i-0ccc", "ip-10-1-0-8": "i-0aaa", "kind-node": ""})
    assert cluster_node_instances(db) == ("i-0aaa", "i-0bbb", "i-0ccc")


def test_a_removed_cluster_no_longer_protects_its_instances(db: Engine) -> None:
    keep = add_cluster(db, "prod-east", {"ip-10-0-1-5": "i-0keep"})
    gone = add_cluster(db, "old-east", {"ip-10-9-0-1": "i-0gone"})
    with Session(db) as session:
        session.delete(session.get_one(Cluster, gone))
        session.commit()
    assert keep and cluster_node_instances(db) == ("i-0keep",)
