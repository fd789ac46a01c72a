"""The embedded sandbox: local AWS plus one local Kubernetes API per cluster, seeded with the estate.

`cloudoptim demo` and the tests start one `Sandbox(workdir)`: it starts moto (`sandbox.aws`), seeds
it (`sandbox.estate_aws`), starts a `LocalKubernetes` per cluster and puts that cluster's objects
(`sandbox.estate_pods`), writes a kubeconfig with one context per cluster and the usage/traffic
CSV files (`sandbox.usage`). Everything follows from `seed` and `now`. The process environment
is never changed: callers export `aws_env` (or pass endpoint_url) and use `kubeconfig_path`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox import estate_aws
from sandbox.aws import LocalAws
from sandbox.estate import CLUSTERS, DEFAULT_SEED, default_now, node_plans
from sandbox.estate_pods import cluster_objects
from sandbox.k8s_emulator import LocalKubernetes
from sandbox.usage import usage_paths, write_cluster_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterInfo:
    name: str
    context: str
    url: str


class Sandbox:
    """Start with `start()` or `with Sandbox(dir) as sb:`; all attributes are valid while started.

    `node_join_delay` (seconds, default 2): an EC2 instance launched into a cluster registers as a
    NotReady node on the next reconcile pass and turns Ready this long after it was first seen.
    """

    def __init__(self, workdir: Path, *, seed: int = DEFAULT_SEED, now: datetime | None = None,
                 reconcile_interval: float = 0.5, node_join_delay: float = 2.0) -> None:
        self.workdir = Path(workdir)
        self.seed = seed
        self.now = now or default_now()
        self.kubeconfig_path = self.workdir / "kubeconfig"
        self.usage_dir = self.workdir / "usage"
        self.aws = LocalAws()
        self.clusters: dict[str, ClusterInfo] = {}
        self.kube: dict[str, LocalKubernetes] = {}
        self.node_instances: dict[str, dict[str, str]] = {}  # cluster -> node name -> instance id
        self.standalone_instances: dict[str, str] = {}  # Name tag -> instance id
        self.spot_queue_url = ""
        self._interval, self._join_delay = reconcile_interval, node_join_delay

    @property
    def aws_env(self) -> dict[str, str]:
        return self.aws.env()

    def usage_path(self, cluster: str) -> Path:
        return usage_paths(self.usage_dir, cluster)[0]

    def traffic_path(self, cluster: str) -> Path:
        return usage_paths(self.usage_dir, cluster)[1]

    def start(self) -> Sandbox:
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig_path.unlink(missing_ok=True)  # contexts of an earlier run point at dead ports
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        log.info("sandbox ready in %.1fs (%s)", time.monotonic() - began, ", ".join(self.clusters))
        return self

    def _start(self) -> None:
        self.aws.start()
        # moto keeps its state per process, not per server: start from empty so an earlier
        # sandbox (or test) in this process does not leak into this estate. Two live sandboxes
        # in one process would share one AWS account; the demo and the tests run one at a time.
        self.aws.reset()
        ec2 = self.aws.client("ec2")
        subnets = estate_aws.seed_network(ec2)
        plans = node_plans(self.seed)
        for cluster in CLUSTERS:
            ids = estate_aws.launch_nodes(ec2, subnets, plans[cluster.name], self.now)
            self.node_instances[cluster.name] = ids
            hotel = any(a.namespace == "hotel" for a in cluster.apps)
            volumes = estate_aws.create_pvc_volumes(ec2, cluster.name, self.now) if hotel else {}
            objs = cluster_objects(cluster, plans[cluster.name], ids, seed=self.seed, now=self.now, volume_ids=volumes)
            pods = [o for o in objs if o["kind"] == "Pod"]
            estate_aws.attach_pvc_volumes(ec2, volumes, pods, ids)
            kube = LocalKubernetes(reconcile_interval=self._interval, node_join_delay=self._join_delay).start()
            self.kube[cluster.name] = kube
            kube.put_many(objs)
            kube.register_node_source(estate_aws.node_source(ec2, cluster))
            kube.write_kubeconfig(self.kubeconfig_path, context=cluster.name)
            self.clusters[cluster.name] = ClusterInfo(cluster.name, cluster.name, kube.url)
            write_cluster_files(self.usage_dir, cluster.name, pods, [a.namespace for a in cluster.apps],
                                seed=self.seed, now=self.now)
        self.standalone_instances = estate_aws.seed_standalone(ec2, subnets, self.seed, self.now)
        self.asg_instance = estate_aws.seed_owners(ec2, self.aws.client("elbv2"), self.aws.client("autoscaling"),
                                                   subnets, self.standalone_instances, self.now)
        estate_aws.put_metrics(self.aws.client("cloudwatch"), self.standalone_instances, self.seed, self.now)
        self.spot_queue_url = estate_aws.seed_spot_queue(self.aws.client("sqs"), self.aws.client("events"))

    def stop(self) -> None:
        for kube in self.kube.values():
            kube.stop()
        self.kube.clear()
        self.clusters.clear()
        self.aws.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def spot_instance_ids(self, cluster: str | None = None) -> list[str]:
        """Running Spot instances that are nodes (of `cluster`, or of any), node order of the plan."""
        plans = node_plans(self.seed)
        wanted = [n for name in ([cluster] if cluster else list(self.node_instances)) for n in plans[name]
                  if n.capacity_type == "spot"]
        ids = [self.node_instances[n.cluster][n.name] for n in wanted]
        if not ids:
            return []
        found = self.aws.client("ec2").describe_instances(
            InstanceIds=ids, Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
        running = {i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]}
        return [i for i in ids if i in running]

    def inject_spot_interruption(self, instance_id: str | None = None) -> dict[str, Any]:
        """Send a Spot interruption warning through EventBridge; it lands in the Spot queue.

        Without `instance_id`, the first running Spot node of the first cluster is chosen (the
        busiest one by construction). Returns what was sent and the event id.
        """
        if instance_id is None:
            candidates = self.spot_instance_ids(CLUSTERS[0].name) or self.spot_instance_ids()
            if not candidates:
                raise RuntimeError("no running Spot node to interrupt")
            instance_id = candidates[0]
        account = str(self.aws.client("sts").get_caller_identity()["Account"])
        entry = estate_aws.spot_interruption_entry(instance_id, account, datetime.now(UTC))
        resp = self.aws.client("events").put_events(Entries=[entry])
        if resp.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge rejected the event: {resp['Entries']}")
        log.info("injected a Spot interruption warning for %s", instance_id)
        return {"instance_id": instance_id, "event_id": resp["Entries"][0].get("EventId"),
                "detail_type": entry["DetailType"], "queue_url": self.spot_queue_url, "entry": entry}
