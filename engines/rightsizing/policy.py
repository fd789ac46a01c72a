"""Which sizing policy applies to a workload: the default, its namespace's, then its annotations.

`engine.py` calls `resolve` per owner; a bad annotation value is returned as a refusal naming the
annotation and the value, so the workload is skipped instead of sized by a rule nobody chose.
`to_rule` turns the resolved `Policy` into the `stats.Rule` the vectorised sizing reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engines.rightsizing.settings import Policy, RightsizingSettings
from engines.rightsizing.stats import MIB, Rule

PREFIX = "cloudoptim.io/rightsizing"
OPT_OUT = PREFIX
# annotation suffix -> (Policy field, kind of value)
OVERRIDES = {
    "-cpu-percentile": ("cpu_percentile", "percentile"),
    "-memory-percentile": ("memory_percentile", "percentile"),
    "-cpu-buffer": ("cpu_buffer", "buffer"),
    "-memory-buffer": ("memory_buffer", "buffer"),
    "-history-days": ("history_days", "days"),
}
OFF = {"off", "false", "no", "0", "disabled"}
ON = {"on", "true", "yes", "1", "enabled"}


@dataclass(frozen=True)
class Resolved:
    policy: Policy
    source: str  # "default", "namespace <ns>", plus "annotations ..." when overridden
    overrides: dict[str, str]


@dataclass(frozen=True)
class Refusal:
    reason: str


def _parse(annotation: str, raw: str, kind: str) -> float | str:
    """The value, or an error text naming the annotation and the value."""
    text = raw.strip().lower()
    bad = f"annotation {annotation}={raw!r} is not "
    if kind == "percentile":
        if text == "max":
            return 100.0
        try:
            value = float(text.removeprefix("p"))
        except ValueError:
            return bad + "a percentile (a number above 0 and at most 100, or max)"
        if not math.isfinite(value) or not 0 < value <= 100:
            return bad + "a percentile (a number above 0 and at most 100, or max)"
        return value
    if kind == "buffer":
        percent = text.endswith("%")
        try:
            value = float(text.removesuffix("%").strip())
        except ValueError:
            return bad + 'a buffer (a fraction such as 0.15, or a percentage such as "15%")'
        value = value / 100 if percent else value
        if not math.isfinite(value) or not 0 <= value <= 5:
            return bad + "a buffer between 0 and 5 (0 % to 500 %)"
        return value
    try:
        value = float(text.removesuffix("d"))
    except ValueError:
        return bad + "a number of days"
    if not math.isfinite(value) or not 0 < value <= 90:
        return bad + "a number of days above 0 and at most 90"
    return value


def resolve(settings: RightsizingSettings, namespace: str, annotations: dict[str, str]) -> Resolved | Refusal | None:
    """The policy for one workload; None when it opted out with cloudoptim.io/rightsizing: off."""
    switch = annotations.get(OPT_OUT)
    if switch is not None:
        if switch.strip().lower() in OFF:
            return None
        if switch.strip().lower() not in ON:
            return Refusal(f"annotation {OPT_OUT}={switch!r} is neither on nor off")
    if namespace in settings.namespace_policies:
        policy, source = settings.namespace_policies[namespace], f"namespace {namespace} policy"
    else:
        policy, source = settings.default_policy, "default policy"
    changes: dict[str, float] = {}
    used: dict[str, str] = {}
    for suffix, (fieldname, kind) in OVERRIDES.items():
        annotation = PREFIX + suffix
        if annotation not in annotations:
            continue
        parsed = _parse(annotation, annotations[annotation], kind)
        if isinstance(parsed, str):
            return Refusal(parsed)
        changes[fieldname] = parsed
        used[annotation] = annotations[annotation]
    if "history_days" in changes:
        # A shorter history also shortens the memory window and the minimum it can hold.
        days = changes["history_days"]
        changes.setdefault("memory_recent_days", min(policy.memory_recent_days, days))
        changes.setdefault("min_history_days", min(policy.min_history_days, days))
    if changes:
        try:
            policy = Policy.model_validate({**policy.model_dump(), **changes})
        except ValueError as exc:
            return Refusal(f"annotations {', '.join(f'{k}={v!r}' for k, v in used.items())} give an invalid policy: {exc}")
        source += " with annotations " + ", ".join(f"{k}={v}" for k, v in sorted(used.items()))
    return Resolved(policy, source, used)


def to_rule(policy: Policy) -> Rule:
    return Rule(
        cpu_percentile=policy.cpu_percentile,
        cpu_buffer=policy.cpu_buffer,
        memory_percentile=policy.memory_percentile,
        memory_buffer=policy.memory_buffer,
        cpu_floor=policy.cpu_floor_cores,
        memory_floor=policy.memory_floor_mib * MIB,
        cpu_cap=policy.cpu_cap_cores,
        memory_cap=None if policy.memory_cap_mib is None else policy.memory_cap_mib * MIB,
    )
