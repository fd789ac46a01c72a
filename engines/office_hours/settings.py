"""Settings of the office-hours engine: every knob with its unit, default and why.

`OfficeHoursEngine.Settings` points here; the UI renders the field descriptions as the settings
form, and `gates.py` (which namespaces and workloads are in scope), `idle.py` (the hour-of-week
profile, the office hours and the idle test) and `engine.py` / `costs.py` read the values.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engines.validators import NamespaceName, QualifiedName
from engines.windows import WindowError, parse_window


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone (for example Europe/Berlin or UTC)") from None
    return value


class OfficeHoursSettings(BaseModel):
    """Which namespaces are non-production, how idle the nights must be, and the schedule's form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protected_namespaces: list[NamespaceName] = Field(
        default_factory=lambda: ["kube-system", "kube-public", "kube-node-lease", "cloudoptim"],
        description=(
            "Namespaces (names) never scheduled, whatever their labels. Default the three Kubernetes "
            "system namespaces and cloudoptim, the product's own (scaling it down would stop the scheduler)."
        ),
    )
    environment_label_keys: list[QualifiedName] = Field(
        default_factory=lambda: ["environment", "env", "cloudoptim.io/environment"],
        description=(
            "Namespace label or annotation keys (text) that name its environment; the first key present "
            "decides, a label before an annotation of the same key. Default environment, env and "
            "cloudoptim.io/environment (the annotation the product's own estate uses)."
        ),
    )
    non_production_values: list[str] = Field(
        default_factory=lambda: ["dev", "development", "staging", "test", "qa", "preview"],
        description=(
            "Values (text, case-insensitive) of an environment label that mark a namespace non-production. "
            "Default dev, development, staging, test, qa, preview."
        ),
    )
    production_values: list[str] = Field(
        default_factory=lambda: ["prod", "production", "live", "prd"],
        description=(
            "Values (text, case-insensitive) of an environment label that mark a namespace production: it is "
            "never scheduled, even when its name matches a non-production pattern. Default prod, production, live, prd."
        ),
    )
    non_production_name_patterns: list[str] = Field(
        default_factory=lambda: ["*-dev", "dev-*", "*-staging", "staging*", "*-test", "test-*", "*-qa", "qa-*",
                                 "preview-*"],
        description=(
            "Shell-style name patterns (text; * any characters) that mark a namespace without an environment "
            "label non-production. Default *-dev, dev-*, *-staging, staging*, *-test, test-*, *-qa, qa-*, preview-*."
        ),
    )
    exclude_label: QualifiedName = Field(
        "cloudoptim.io/exclude",
        description=(
            'Workload label key (text) that, set to "true", keeps the workload unscheduled while the rest of '
            "its namespace is scheduled. Default cloudoptim.io/exclude."
        ),
    )
    opt_out_annotation: QualifiedName = Field(
        "cloudoptim.io/opt-out",
        description=(
            'Annotation or label key (text) that, set to anything but "false" on a workload or namespace, keeps '
            "it out of this engine. Default cloudoptim.io/opt-out, the key every engine honours."
        ),
    )
    timezone: str = Field(
        "UTC",
        description=(
            "IANA timezone (text) the office hours are found and written in, unless the namespace annotation "
            "below names another. Default UTC."
        ),
    )
    timezone_annotation: QualifiedName = Field(
        "cloudoptim.io/timezone",
        description=(
            "Namespace annotation key (text) whose value, an IANA timezone, overrides the timezone above for "
            "that namespace (a team in Berlin works Berlin hours). A value that is not a timezone skips the "
            "namespace with that reason. Default cloudoptim.io/timezone."
        ),
    )
    holidays_country: str | None = Field(
        None,
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description=(
            'ISO 3166 country[-subdivision] code (text, e.g. "DE" or "DE-BY") whose public holidays the '
            "schedule keeps off all day; written to the schedule's holidays field. Default none. Savings do "
            "not count holidays (they only add to it)."
        ),
    )
    default_office_hours: str = Field(
        "Mon-Fri 08:00-19:00",
        description=(
            "Office hours (days and whole hours, local time) used when the history shows no clear activity "
            "or when finding them is off; their days are also the days a found window runs on. Default "
            "Mon-Fri 08:00-19:00."
        ),
    )
    find_office_hours: bool = Field(
        True,
        description=(
            "Whether to find the office hours from the history (on/off): the smallest window on whole hours "
            "of the office days that holds every active hour, padded below. Off uses the default office "
            "hours. Default on."
        ),
    )
    padding_hours: int = Field(
        1,
        ge=0,
        le=6,
        description=(
            "Hours (count) added before the first and after the last active hour of a found window, so the "
            "workloads are up before people start and stay up for late work. Default 1."
        ),
    )
    max_office_hours_per_day: int = Field(
        16,
        ge=1,
        le=23,
        description=(
            "Longest found window, in hours per day; activity that needs a longer one means the namespace is "
            "busy at night and is skipped naming those hours. Default 16 (the saving of a shorter night is small)."
        ),
    )
    activity_percent_of_peak: float = Field(
        25.0,
        gt=0.0,
        le=100.0,
        description=(
            "An hour of the week is active when its 95th percentile namespace CPU reaches this share, in "
            "percent, of the busiest hour's median. Default 25, the same share as the idle test's in-hours limit."
        ),
    )
    idle_percent_of_requests: float = Field(
        10.0,
        gt=0.0,
        le=100.0,
        description=(
            "Idle test, first half: the 95th percentile namespace CPU outside office hours must stay below this "
            "share, in percent, of the namespace's CPU requests. Default 10 (Trusted Advisor's idle CPU)."
        ),
    )
    idle_percent_of_in_hours: float = Field(
        25.0,
        gt=0.0,
        le=100.0,
        description=(
            "Idle test, second half: the 95th percentile namespace CPU outside office hours must stay below this "
            "share, in percent, of the median CPU inside office hours. Default 25."
        ),
    )
    min_history_days: int = Field(
        7,
        ge=1,
        le=90,
        description=(
            "Fewest days (count) of usage history needed to judge a namespace: a week covers every hour of the "
            "week once. Default 7."
        ),
    )
    min_coverage_percent: float = Field(
        80.0,
        ge=0.0,
        le=100.0,
        description=(
            "Smallest share, in percent, of the 5-minute slots of the history in which every pod series that "
            "spans the slot has a sample; fewer means gaps and a skip. Default 80."
        ),
    )
    min_samples_per_hour_of_week: int = Field(
        6,
        ge=1,
        description=(
            "Fewest measured 5-minute slots (count) each of the 168 hours of the week needs over the history, "
            "so no hour is judged on a few samples. Default 6 (half an hour)."
        ),
    )

    @field_validator("holidays_country", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # The settings form sends an empty text box as "": that means no holidays, not a bad code.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("default_office_hours")
    @classmethod
    def _whole_hours(cls, value: str) -> str:
        try:
            window = parse_window(value)
        except WindowError as exc:
            raise ValueError(str(exc)) from None
        if window.start.minute or window.end.minute or window.end <= window.start:
            raise ValueError(f"{value!r}: office hours must be whole hours with the end after the start")
        return value
