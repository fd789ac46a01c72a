"""Validation reports of uploaded engine modules: built from a sandbox run, stored as JSON, read as views.

`app.services.engine_uploads` builds a report with `build_report` after each validation and
stores `as_json()` in `EngineModule.report`; `report_view` turns the stored JSON back into the
typed view the Engines page shows (each check passed/failed with its message, the limits and the
containment that applied, the duration and how many recommendations the run returned).
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass
from typing import Any

from app.services.upload_sandbox import Limits, SandboxResult
from engines.contract import ScanResult


@dataclass(frozen=True)
class ReportCheck:
    name: str
    passed: bool
    message: str


@dataclass(frozen=True)
class ValidationReport:
    passed: bool
    checks: tuple[ReportCheck, ...]
    snapshot: str  # which snapshot the run used
    network_isolated: bool | None = None
    network: str = ""
    filesystem: str = ""
    processes: str = ""
    limits: tuple[tuple[str, str], ...] = ()
    exit: str = ""
    duration_s: float | None = None
    output_count: int | None = None
    stderr_tail: str = ""

    @property
    def reason(self) -> str:
        """The first failed check, in words (empty when it passed)."""
        failed = next((c for c in self.checks if not c.passed), None)
        return f"{failed.name}: {failed.message}" if failed else ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["limits"] = dict(self.limits)
        return data


def syntax_check(source: str) -> ReportCheck:
    """Parsed in the parent with `ast` (nothing runs), so a syntax error fails before any sandbox."""
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return ReportCheck("syntax", False, f"line {exc.lineno}: {exc.msg}")
    except ValueError as exc:  # e.g. a NUL byte in the source
        return ReportCheck("syntax", False, str(exc))
    return ReportCheck("syntax", True, "the source parses")


def _limits(limits: Limits) -> tuple[tuple[str, str], ...]:
    return (
        ("wall-clock timeout", f"{limits.wall_s:g} s"), ("CPU time (RLIMIT_CPU)", f"{limits.cpu_s} s"),
        ("address space (RLIMIT_AS)", f"{limits.memory_mib} MiB"), ("processes (RLIMIT_NPROC)", str(limits.processes)),
        ("file size and output (RLIMIT_FSIZE)", f"{limits.file_mib} MiB"),
        ("open files (RLIMIT_NOFILE)", str(limits.open_files)), ("working directory", f"{limits.workdir_mib} MiB"),
        ("environment", "PATH and LANG only (no AWS_*, KUBECONFIG, CLOUDOPTIM_*, DB URL)"),
    )  # fmt: skip


def build_report(
    name: str, run: SandboxResult, *, snapshot: str, builtin_names: set[str], syntax: ReportCheck
) -> ValidationReport:
    """Every check of one validation run: syntax, the child's shape and contract checks (informative:
    they ran next to the upload's code), then the parent's own checks of what came back."""
    checks = [syntax]
    checks += [ReportCheck(str(c.get("name", "?"))[:80], c.get("passed") is True, str(c.get("message", ""))[:500])
               for c in run.checks]  # fmt: skip
    reported = run.engine.get("name")
    if reported is not None:
        if reported != name:
            checks.append(ReportCheck("stored name", False, f"the class is named {reported!r}, the upload was stored "
                                      f"as {name!r}; set `name = {name!r}` or upload it again"))  # fmt: skip
        elif name in builtin_names:
            checks.append(ReportCheck("stored name", False, f"{name!r} is a built-in engine; pick another name"))
    if run.error:
        checks.append(ReportCheck(run.stage or "run", False, run.error))
    elif run.result is not None:
        problems = check_output(run.result, name, run.limits)
        count = len(run.result.recommendations)
        checks.append(ReportCheck("output", not problems, "; ".join(problems) or
                                  f"{count} recommendation(s), {len(run.result.skipped)} skipped, all valid"))  # fmt: skip
    box = run.containment
    return ValidationReport(
        passed=all(c.passed for c in checks), checks=tuple(checks), snapshot=snapshot,
        network_isolated=box.network_isolated if box else None, network=box.network if box else "",
        filesystem=box.filesystem if box else "", processes=box.processes if box else "",
        limits=_limits(run.limits), exit=run.exit, duration_s=run.duration_s,
        output_count=len(run.result.recommendations) if run.result is not None else None,
        stderr_tail=run.stderr_tail[-1000:],
    )  # fmt: skip


def failed_report(checks: list[ReportCheck], snapshot: str = "") -> ValidationReport:
    """A report for a module that never reached the sandbox (syntax error, internal failure)."""
    return ValidationReport(passed=False, checks=tuple(checks), snapshot=snapshot)


def report_view(data: dict[str, Any] | None) -> ValidationReport | None:
    """The stored JSON as a view; None for a module not validated yet."""
    if not data or "checks" not in data:
        return None
    checks = tuple(ReportCheck(str(c.get("name", "")), bool(c.get("passed")), str(c.get("message", "")))
                   for c in data.get("checks", []))  # fmt: skip
    limits = data.get("limits") or {}
    return ValidationReport(
        passed=bool(data.get("passed")), checks=checks, snapshot=str(data.get("snapshot", "")),
        network_isolated=data.get("network_isolated"), network=str(data.get("network", "")),
        filesystem=str(data.get("filesystem", "")), processes=str(data.get("processes", "")),
        limits=tuple((str(k), str(v)) for k, v in limits.items()), exit=str(data.get("exit", "")),
        duration_s=data.get("duration_s"), output_count=data.get("output_count"),
        stderr_tail=str(data.get("stderr_tail", "")),
    )  # fmt: skip


def check_output(result: ScanResult, engine_name: str, limits: Limits | None = None) -> list[str]:
    """Why this output may not be stored (empty when it may): wrong engine name, negative savings
    for a saving, duplicate fingerprints, too many recommendations."""
    limits = limits or Limits()
    problems = []
    recs = result.recommendations
    if len(recs) > limits.max_recommendations:
        problems.append(f"{len(recs)} recommendations (at most {limits.max_recommendations})")
    wrong = sorted({r.engine for r in recs if r.engine != engine_name})
    if wrong:
        problems.append(f"recommendations name engine {', '.join(map(repr, wrong))}, not {engine_name!r}")
    negative = [r.target for r in recs if r.monthly_savings < 0 and r.purpose != "reliability"]
    if negative:
        problems.append(f"negative monthly savings for a saving (only reliability changes may cost more): "
                        f"{', '.join(negative[:5])}")  # fmt: skip
    if len({r.fingerprint for r in recs}) != len(recs):
        problems.append("two recommendations have the same fingerprint (same target and action)")
    return problems
