"""What the office-hours engine never schedules, each refusal as a sentence, and the namespace's timezone.

Called by `engine.OfficeHoursEngine`: `namespace_refusal` first for every namespace (protected,
opted out, production, or not marked non-production), `namespace_timezone` for the ones that pass,
then `workload_refusal` for each Deployment, StatefulSet and CronJob of a namespace judged idle at
night (excluded, opted out, already scheduled, already at zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engines.office_hours.settings import OfficeHoursSettings
from engines.snapshot import Namespace, Workload

SCHEDULED_ANNOTATIONS = ("cloudoptim.io/schedule-uptime", "cloudoptim.io/schedule-scale-down")
SCALABLE_KINDS = ("Deployment", "StatefulSet", "CronJob")


def _set(values: Mapping[str, str], key: str) -> str | None:
    value = values.get(key)
    return value if value is not None and value.strip().lower() != "false" else None


def environment(ns: Namespace | None, s: OfficeHoursSettings) -> tuple[str, str] | None:
    """("label KEY" or "annotation KEY", value) of the first environment key the namespace carries;
    for one key a label wins over an annotation (a label is what selectors and policies see)."""
    if ns is None:
        return None
    for key in s.environment_label_keys:
        for where, values in (("label", ns.labels), ("annotation", ns.annotations)):
            if key in values:
                return f"{where} {key}", values[key]
    return None


def namespace_refusal(name: str, ns: Namespace | None, s: OfficeHoursSettings) -> str | None:
    """Why the namespace is out of scope, or None when it is a non-production one to judge."""
    if name in s.protected_namespaces:
        return f"namespace {name} is protected (settings: protected namespaces); it is never scheduled"
    if ns is not None:
        for where, values in (("annotation", ns.annotations), ("label", ns.labels)):
            if _set(values, s.opt_out_annotation) is not None:
                return f"namespace {name} is opted out with {where} {s.opt_out_annotation}={values[s.opt_out_annotation]}"
    env = environment(ns, s)
    if env is not None:
        key, value = env
        if value.strip().lower() in {v.lower() for v in s.production_values}:
            return f"namespace {name} is production ({key}={value}); production is never scheduled"
        if value.strip().lower() in {v.lower() for v in s.non_production_values}:
            return None
        return (f"namespace {name} has {key}={value}, which is neither a non-production value "
                f"({', '.join(s.non_production_values)}) nor a production one")  # fmt: skip
    pattern = next((p for p in s.non_production_name_patterns if fnmatchcase(name, p)), None)
    if pattern is not None:
        return None
    return (f"namespace {name} is not marked non-production: no label or annotation "
            f"{' or '.join(s.environment_label_keys)} "
            f"and its name matches none of {', '.join(s.non_production_name_patterns)}")  # fmt: skip


def non_production_because(name: str, ns: Namespace | None, s: OfficeHoursSettings) -> str:
    env = environment(ns, s)
    if env is not None:
        return f"{env[0]}={env[1]}"
    pattern = next(p for p in s.non_production_name_patterns if fnmatchcase(name, p))
    return f"name matches {pattern}"


def namespace_timezone(name: str, ns: Namespace | None, s: OfficeHoursSettings) -> tuple[str, ZoneInfo] | str:
    """(timezone name, zone) from the namespace annotation or the setting; a reason when it is not a zone."""
    zone_name = s.timezone
    if ns is not None and s.timezone_annotation in ns.annotations:
        zone_name = ns.annotations[s.timezone_annotation].strip()
    try:
        return zone_name, ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return (f"namespace {name} annotation {s.timezone_annotation}={zone_name!r} is not an IANA timezone "
                "(for example Europe/Berlin); office hours cannot be placed")  # fmt: skip


def workload_refusal(wl: Workload, s: OfficeHoursSettings) -> str | None:
    """Why this workload of an idle namespace is left alone, or None when it can be scheduled."""
    label = f"{wl.kind} {wl.namespace}/{wl.name}"
    if wl.labels.get(s.exclude_label, "").strip().lower() == "true":
        return f"{label} is excluded with label {s.exclude_label}=true"
    for where, values in (("annotation", wl.annotations), ("label", wl.labels)):
        if _set(values, s.opt_out_annotation) is not None:
            return f"{label} is opted out with {where} {s.opt_out_annotation}={values[s.opt_out_annotation]}"
    present = [key for key in SCHEDULED_ANNOTATIONS if key in wl.annotations]
    if present:
        return f"{label} is already scheduled (annotation {present[0]}={wl.annotations[present[0]]})"
    if wl.kind != "CronJob" and wl.replicas == 0:
        return f"{label} already runs 0 replicas; there is nothing to scale down"
    return None
