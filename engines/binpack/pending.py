"""What the scan says about Pending pods: where the plan puts them, and why the rest fit nowhere.

Called by `engine.py` after planning. The planner places pending pods first on the room the plan
keeps (those nodes are then never drained) and checks the rest against the room the plan frees (a
removed node once empty, `Plan.freed_for_pending`). A pod that fits nowhere is named with its cause:
a rule no node satisfies (taint, node label, volume zone), requests larger than any node, or, for
the rest, no free room today, in one summary line.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engines.binpack.explain import OK, cause_codes, diagnose
from engines.binpack.model import CPU, MEM, ClusterModel
from engines.binpack.planner import Plan
from engines.binpack.report import GIB
from engines.contract import ScanResult

_SHOWN = 5  # pod names quoted in one summary line


def pod_names(model: ClusterModel, pods: list[int]) -> list[str]:
    return [f"{model.pods[p].namespace}/{model.pods[p].name}" for p in pods]


def shown(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def planned_on(model: ClusterModel, the_plan: Plan) -> dict[int, list[int]]:
    """Node -> pending pods the plan puts on its current free room (the nodes it keeps for them)."""
    placed: dict[int, list[int]] = {}
    for p in np.flatnonzero((model.home < 0) & (the_plan.loc >= 0)).tolist():
        placed.setdefault(int(the_plan.loc[p]), []).append(p)
    return placed


def freed_room_sentence(model: ClusterModel, pods: list[int]) -> str:
    """The rationale's note on a removal whose emptied node would hold pods that fit nowhere now."""
    noun, verb, they = ("pod", "fits", "it waits") if len(pods) == 1 else ("pods", "fit", "they wait")
    return (
        f" Once empty it would also hold pending {noun} {shown(pod_names(model, pods))}, which {verb} on no "
        f"current node; after the removal {they} for a new node from the autoscaler."
    )


def report_unplaced(result: ScanResult, model: ClusterModel, the_plan: Plan) -> None:
    """Skip entries for pending pods the plan cannot place: by name when a rule or their size rules
    out every node, else together in one line."""
    if not the_plan.pending_unplaced:
        return
    biggest = model.alloc[model.dest_ok].max(axis=0) if model.dest_ok.any() else np.zeros(4)
    codes: dict[int, npt.NDArray[np.int8]] = {}
    crowded: list[int] = []
    for p in the_plan.pending_unplaced:
        pod = model.pods[p]
        sig = int(model.sig[p])
        if sig not in codes:
            codes[sig] = cause_codes(pod, model.nodes, model.zones)
        target = f"pod/{pod.namespace}/{pod.name}"
        if not (codes[sig][model.dest_ok] == OK).any():
            result.skip(target, diagnose(pod, model.nodes, codes[sig], model.dest_ok, other=""))
            continue
        req = model.req[p]
        if req[CPU] > biggest[CPU] or req[MEM] > biggest[MEM]:
            result.skip(
                target,
                (
                    f"pod {pod.namespace}/{pod.name} requests {req[CPU]:.2f} CPU and {req[MEM] / GIB:.2f} GiB, "
                    f"more than any node offers ({biggest[CPU]:.2f} CPU, {biggest[MEM] / GIB:.2f} GiB)"
                ),
            )
            continue
        crowded.append(p)
    if crowded:
        freed = sum(len(v) for v in the_plan.freed_for_pending.values())
        also = (
            f"; {freed} more fit only on nodes this plan empties (see pending_pods_on_freed_room in their evidence)"
            if freed
            else ""
        )
        result.skip(
            f"cluster/{model.cluster.name}",
            (
                f"{len(crowded)} pending pods do not fit in the free room of any current node "
                f"({shown(pod_names(model, crowded))}); they are left to the autoscaler; the plan keeps the "
                f"room of those pending pods that do fit{also}"
            ),
        )
