"""Kubernetes manifests of the sandbox estate, except pods: apps, kube-system, nodes, policies.

`sandbox.estate_pods` combines these with placed pods for one cluster; `sandbox.estate_aws` calls
`node_manifest` from its EC2 node source so an instance launched later joins with the same shape.
App manifests are the upstream files in estate/manifests, loaded unmodified and then changed in
memory only as listed in estate/manifests/README.md: namespaces, replica counts, the requests
FILLED IN below where upstream sets none, and hotelReservation's MongoDBs as StatefulSets whose
hostPath PersistentVolumes become zonal EBS CSI volumes.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import yaml

from sandbox.estate import MANIFEST_DIR, REGION, App, ClusterPlan, instance_types, node_resources
from sandbox.k8s_reconciler import MANAGED_BY_SOURCE

Obj = dict[str, Any]
ECR = "602401143452.dkr.ecr.us-east-1.amazonaws.com"  # the EKS add-on registry in us-east-1
KUBELET_VERSION = "v1.31.4-eks-aeac579"


def _res(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"requests": {"cpu": cpu, "memory": memory}}
    if memory_limit:
        out["limits"] = {"memory": memory_limit}
    return out


# FILLED IN by us: TeaStore and Bookinfo set no resources at all. Values follow each service's
# runtime (Tomcat/Liberty JVMs, MariaDB, Python); webui, image and reviews-v1 are deliberately
# oversized so the rightsizing engine has clear targets; reviews-v3 and the recommender have
# tight memory limits (they are the staging OOMKilled pods).
FILLED: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    ("teastore", "teastore-db"): _res("250m", "512Mi", "1Gi"),
    ("teastore", "teastore-registry"): _res("100m", "256Mi", "512Mi"),
    ("teastore", "teastore-persistence"): _res("500m", "1Gi", "1536Mi"),
    ("teastore", "teastore-auth"): _res("250m", "512Mi", "1Gi"),
    ("teastore", "teastore-image"): _res("1", "1536Mi", "2Gi"),
    ("teastore", "teastore-recommender"): _res("500m", "768Mi", "1Gi"),
    ("teastore", "teastore-webui"): _res("2", "2Gi", "3Gi"),
    ("bookinfo", "details-v1"): _res("100m", "128Mi", "256Mi"),
    ("bookinfo", "ratings-v1"): _res("100m", "128Mi", "256Mi"),
    ("bookinfo", "reviews-v1"): _res("500m", "1Gi", "1536Mi"),
    ("bookinfo", "reviews-v2"): _res("500m", "1Gi", "1536Mi"),
    ("bookinfo", "reviews-v3"): _res("500m", "768Mi", "1Gi"),
    ("bookinfo", "productpage-v1"): _res("200m", "256Mi", "512Mi"),
}
# FILLED IN by us: DeathStarBench sets CPU only; memory requests by image (no memory limits,
# as upstream sets none).
HOTEL_MEMORY = {"mongo": "512Mi", "memcached": "256Mi", "hashicorp/consul": "128Mi", "jaegertracing": "256Mi"}
HOTEL_GO_MEMORY = "64Mi"
REPLICAS = {("boutique", "frontend"): 3, ("boutique", "cartservice"): 2, ("boutique", "productcatalogservice"): 2,
            ("boutique", "currencyservice"): 2, ("boutique", "checkoutservice"): 2,
            ("hotel", "frontend"): 2, ("hotel", "search"): 2}
# hotelReservation PVC -> zone of its EBS volume (one MongoDB per PVC).
PVC_ZONES = {"geo-pvc": "us-east-1a", "profile-pvc": "us-east-1b", "rate-pvc": "us-east-1c",
             "recommendation-pvc": "us-east-1a", "reservation-pvc": "us-east-1b", "user-pvc": "us-east-1c"}
PVC_GIB = 1  # upstream's claim size
ON_DEMAND_SELECTOR = {"eks.amazonaws.com/capacityType": "ON_DEMAND"}  # databases stay off spot


@functools.cache
def _upstream_docs(folder: str) -> tuple[Obj, ...]:
    """The folder's YAML documents, parsed once per process (callers deep-copy before changing)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster when present
    files = sorted((MANIFEST_DIR / folder).rglob("*.yaml"))
    return tuple(d for f in files for d in yaml.load_all(f.read_text(encoding="utf-8"), Loader=loader)
                 if isinstance(d, dict))


def load_app(app: App) -> list[Obj]:
    """The app's manifests with this estate's changes, in file and document order."""
    out = []
    for original in _upstream_docs(app.folder):
        doc = copy.deepcopy(original)
        meta = doc.setdefault("metadata", {})
        meta.pop("creationTimestamp", None)  # kompose writes null here
        doc.pop("status", None)
        if doc["kind"] != "PersistentVolume":
            meta["namespace"] = app.namespace
        if doc["kind"] == "Deployment":
            doc = _tune_deployment(app.namespace, doc)  # may come back as a StatefulSet
        elif doc["kind"] == "PersistentVolume":
            continue  # replaced by `persistent_volumes`, which needs the EBS volume ids
        elif doc["kind"] == "PersistentVolumeClaim":
            doc["spec"]["volumeName"] = meta["name"].replace("-pvc", "-pv")
            doc["status"] = {"phase": "Bound", "accessModes": doc["spec"]["accessModes"],
                             "capacity": {"storage": f"{PVC_GIB}Gi"}}
        out.append(doc)
    return out


def _tune_deployment(namespace: str, doc: Obj) -> Obj:
    name, spec = doc["metadata"]["name"], doc["spec"]
    if (namespace, name) in REPLICAS:
        spec["replicas"] = REPLICAS[(namespace, name)]
    pod = spec["template"]["spec"]
    for container in pod["containers"]:
        if (namespace, name) in FILLED:
            container["resources"] = copy.deepcopy(FILLED[(namespace, name)])
        elif namespace == "hotel":
            image = str(container.get("image", ""))
            memory = next((v for k, v in HOTEL_MEMORY.items() if image.startswith(k)), HOTEL_GO_MEMORY)
            container.setdefault("resources", {}).setdefault("requests", {})["memory"] = memory
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes") or [] if "persistentVolumeClaim" in v]
    if namespace == "hotel" and claims:
        # A database with a volume is a StatefulSet in any real cluster; Recreate has no meaning there.
        spec.pop("strategy", None)
        spec["serviceName"] = name
        pod["nodeSelector"] = dict(ON_DEMAND_SELECTOR)
        return {**doc, "kind": "StatefulSet"}
    return doc


def persistent_volumes(volume_ids: Mapping[str, str]) -> list[Obj]:
    """hotelReservation's PVs as EBS CSI volumes pinned to their zone (upstream uses hostPath)."""
    pvs = []
    for pvc, zone in PVC_ZONES.items():
        name = pvc.replace("-pvc", "-pv")
        pvs.append({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone},
                         "annotations": {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"}},
            "spec": {"capacity": {"storage": f"{PVC_GIB}Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "volumeMode": "Filesystem",
                     "storageClassName": pvc.replace("-pvc", "-storage"),
                     "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "hotel", "name": pvc},
                     "csi": {"driver": "ebs.csi.aws.com", "fsType": "ext4", "volumeHandle": volume_ids[pvc]},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [zone]}]}]}}},
            "status": {"phase": "Bound"},
        })
    return pvs


def namespaces(cluster: ClusterPlan) -> list[Obj]:
    out = []
    for name, notes in [("default", {}), ("kube-system", {}),
                        *[(a.namespace, dict(a.annotations)) for a in cluster.apps]]:
        out.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name},
                                 "annotations": notes},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    return out


def kube_system() -> list[Obj]:
    """The EKS default add-ons with their shipped requests: VPC CNI, kube-proxy, CoreDNS."""
    critical = [{"operator": "Exists"}]  # node agents run on every node, tainted or not

    def daemonset(name: str, image: str, cpu: str) -> Obj:
        labels = {"k8s-app": name}
        return {"apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
                "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                    "hostNetwork": True, "priorityClassName": "system-node-critical", "tolerations": critical,
                    "containers": [{"name": name, "image": image, "resources": {"requests": {"cpu": cpu}}}]}}}}

    dns_labels = {"k8s-app": "kube-dns", "eks.amazonaws.com/component": "coredns"}
    coredns = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dns_labels},
        "spec": {"replicas": 2, "selector": {"matchLabels": dns_labels},
                 "template": {"metadata": {"labels": dns_labels}, "spec": {
                     "priorityClassName": "system-cluster-critical",
                     "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                     "containers": [{"name": "coredns", "image": f"{ECR}/eks/coredns:v1.11.3-eksbuild.2",
                                     "resources": {"requests": {"cpu": "100m", "memory": "70Mi"},
                                                   "limits": {"memory": "170Mi"}}}]}}},
    }
    return [daemonset("aws-node", f"{ECR}/amazon-k8s-cni:v1.19.0-eksbuild.1", "25m"),
            daemonset("kube-proxy", f"{ECR}/eks/kube-proxy:v1.31.2-minimal-eksbuild.3", "100m"), coredns]


def policies(cluster: ClusterPlan) -> list[Obj]:
    """PodDisruptionBudgets and an HPA, as a team running these apps would add them."""
    def pdb(ns: str, name: str, labels: dict[str, str], **budget: int) -> Obj:
        key = "minAvailable" if "min_available" in budget else "maxUnavailable"
        return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": ns},
                "spec": {key: next(iter(budget.values())), "selector": {"matchLabels": labels}}}

    out = [pdb("kube-system", "coredns", {"eks.amazonaws.com/component": "coredns"}, max_unavailable=1)]
    spaces = {a.namespace for a in cluster.apps}
    if "boutique" in spaces:
        out.append(pdb("boutique", "frontend", {"app": "frontend"}, min_available=2))
        out.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": "frontend", "namespace": "boutique"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
                             "minReplicas": 3, "maxReplicas": 10, "metrics": [{"type": "Resource", "resource": {
                                 "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}})
    if "hotel" in spaces:
        out.append(pdb("hotel", "mongodb-user", {"io.kompose.service": "mongodb-user"}, min_available=1))
    if "teastore" in spaces:
        out.append(pdb("teastore", "teastore-db", {"run": "teastore-db"}, min_available=1))
    return out


def node_manifest(cluster: ClusterPlan, *, name: str, instance_id: str, instance_type: str, zone: str,
                  spot: bool, group: str, private_ip: str, created: datetime) -> Obj:
    """The Node an EKS kubelet on this instance would register (labels, taints, resources)."""
    node_group = cluster.group(group)
    capacity, allocatable = node_resources(instance_type)
    arch = instance_types()[instance_type].arch
    labels = {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
        "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": REGION,
        "topology.ebs.csi.aws.com/zone": zone, "node.kubernetes.io/instance-type": instance_type,
        # The kubelet still sets the deprecated beta labels; older selectors use them.
        "beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/instance-type": instance_type,
        "failure-domain.beta.kubernetes.io/zone": zone, "failure-domain.beta.kubernetes.io/region": REGION,
        "karpenter.sh/capacity-type": "spot" if spot else "on-demand",
        "eks.amazonaws.com/capacityType": "SPOT" if spot else "ON_DEMAND",
        **({"eks.amazonaws.com/nodegroup": group} if group else {}), **dict(node_group.labels if node_group else ()),
    }
    taints = [{"key": k, "value": v, "effect": e} for k, v, e in (node_group.taints if node_group else ())]
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    machine_id = hashlib.md5(instance_id.encode(), usedforsecurity=False).hexdigest()
    spec: Obj = {"providerID": f"aws:///{zone}/{instance_id}"}
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1", "kind": "Node",
        # The reconciler removes source-managed nodes whose instance is gone (terminate = node leaves).
        "metadata": {"name": name, "labels": labels, "creationTimestamp": stamp,
                     "annotations": {MANAGED_BY_SOURCE: "true", "alpha.kubernetes.io/provided-node-ip": private_ip}},
        "spec": spec,
        "status": {"capacity": capacity, "allocatable": allocatable,
                   "addresses": [{"type": "InternalIP", "address": private_ip}, {"type": "Hostname", "address": name},
                                 {"type": "InternalDNS", "address": name}],
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "message": "kubelet is posting ready status",
                                   "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}],
                   "nodeInfo": {"machineID": machine_id, "systemUUID": f"ec2{machine_id[3:8]}-{machine_id[8:12]}",
                                "bootID": machine_id[::-1],
                                "kernelVersion": "6.1.119-129.201.amzn2023." + ("aarch64" if arch == "arm64" else "x86_64"),
                                "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                                "operatingSystem": "linux", "architecture": arch,
                                "osImage": "Amazon Linux 2023.6.20241212",
                                "containerRuntimeVersion": "containerd://1.7.23"}},
    }
