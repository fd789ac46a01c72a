"""Process settings: one pydantic-settings object built at the process edge and passed down.

Environment variables use the prefix `CLOUDOPTIM_` and `__` for nesting, e.g.
`CLOUDOPTIM_DB__URL=postgresql+psycopg://user@host/db`; lists take JSON (`["a","b"]`) or a
comma-separated value (`a,b`). The CLI, the UI entrypoint and the worker call `load_settings()`
once; nothing else reads the environment for configuration. Every bad value, and every
`CLOUDOPTIM_` variable that names no setting, is a `SettingsError` naming the variable.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceParseError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

APP_NAME = "cloudoptim"
ENV_PREFIX = "CLOUDOPTIM_"
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_NAMESPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def default_data_dir() -> Path:
    """Per-user data directory (e.g. ~/.local/share/cloudoptim on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME))


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the environment variable to fix."""


def _split_list(value: object) -> object:
    """A JSON list or a comma-separated string; a bare `us-east-1` must not need JSON quoting."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list ({exc.msg}); use JSON or a comma-separated list") from None
    return [part.strip() for part in text.split(",") if part.strip()]


def _check_each(pattern: re.Pattern[str], what: str, example: str) -> Any:
    def check(values: list[str]) -> list[str]:
        for value in values:
            if not pattern.match(value):
                raise ValueError(f"{value!r} is not {what} (for example {example})")
        return values

    return AfterValidator(check)


def _http_url(value: str) -> str:
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


Regions = Annotated[list[str], NoDecode, BeforeValidator(_split_list), _check_each(_REGION, "an AWS region", "us-east-1")]
Namespaces = Annotated[
    list[str], NoDecode, BeforeValidator(_split_list), _check_each(_NAMESPACE, "a namespace name", "kube-system")
]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Seconds = Annotated[float, Field(allow_inf_nan=False)]


class DbSettings(BaseModel):
    url: str = Field("", description="SQLAlchemy URL; empty = SQLite file in the data directory")
    busy_timeout_ms: int = Field(15000, ge=0, description="SQLite busy timeout in milliseconds")
    echo: bool = Field(False, description="log every SQL statement")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {value!r}") from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")
        if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://user@host:port/db")
        return value


class AwsSettings(BaseModel):
    regions: Regions = Field(
        default_factory=lambda: ["us-east-1"], min_length=1,
        description="regions whose prices `cloudoptim data refresh` updates; must be in the price catalog",
    )  # fmt: skip
    spot_queue_url: HttpUrl = Field("", description="SQS queue URL receiving Spot interruption warnings")


class K8sSettings(BaseModel):
    kubeconfig: str = Field("", description="kubeconfig path; empty = ~/.kube/config")
    page_size: int = Field(500, ge=1, le=5000, description="objects per list page")
    request_timeout_s: Seconds = Field(10.0, gt=0, description="timeout of one API request, seconds")

    @field_validator("kubeconfig")
    @classmethod
    def _check_kubeconfig(cls, value: str) -> str:
        # Checked here so a typo is reported at start-up, not as a failed source at the first scan.
        if value and not Path(value).expanduser().is_file():
            raise ValueError(f"{value} is not a file")
        return str(Path(value).expanduser()) if value else value


class ExecutorSettings(BaseModel):
    dry_run: bool = Field(False, description="plan actions but never apply them")
    drain_timeout_s: int = Field(110, ge=10, description="deadline for one node drain, seconds")
    max_nodes_drained_per_hour: int = Field(3, ge=0, description="disruption budget per cluster")
    protected_namespaces: Namespaces = Field(default_factory=lambda: ["kube-system"])
    aws_wait_timeout_s: Seconds = Field(900.0, gt=0, description="how long to wait for an EC2 snapshot, stop or volume change, seconds")
    node_join_timeout_s: Seconds = Field(600.0, gt=0, description="how long a launched node may take to join the cluster Ready, seconds")
    dry_run_clusters: Annotated[list[str], NoDecode, BeforeValidator(_split_list)] = Field(
        default_factory=list, description="clusters whose executions are planned and shown, never applied")
    disruption_window_timezone: str = Field("UTC", description="IANA timezone of disruption_window")
    disruption_window: str = Field(
        "", description="when node-disrupting actions may run, e.g. 'sat,sun 00:00-06:00'; empty = any time")

    @field_validator("disruption_window_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from engines.windows import parse_window

        parse_window("00:00-01:00", value)  # raises a WindowError (a ValueError) naming the timezone
        return value

    @field_validator("disruption_window")
    @classmethod
    def _check_window(cls, value: str, info: ValidationInfo) -> str:
        if value.strip():
            from engines.windows import parse_window

            parse_window(value, info.data.get("disruption_window_timezone", "UTC"))
        return value.strip()


class SpotSettings(BaseModel):
    rebalance_policy: Literal["act", "record", "act-high-risk"] = Field(
        "act-high-risk",
        description="on a rebalance recommendation: act (treat it as a warning), record only, or act only "
        "when the pool's Spot Advisor bucket is high-risk (>= rebalance_act_min_bucket)",
    )
    rebalance_act_min_bucket: int = Field(2, ge=0, le=4, description="Spot Advisor bucket (0: <5 % ... 4: >20 %) from which act-high-risk acts")
    drain_margin_s: Seconds = Field(15.0, ge=0, description="the drain must end this long before AWS takes the instance, seconds")
    pool_avoid_minutes: int = Field(30, ge=0, description="how long an interrupted type/AZ pool is avoided for replacements")
    replacement_types: int = Field(3, ge=1, le=20, description="how many types the replacement launch may fall back through")
    poll_wait_s: int = Field(20, ge=0, le=20, description="SQS long-poll wait, seconds")
    error_backoff_max_s: Seconds = Field(60.0, gt=0, description="longest back-off after an SQS or network error, seconds")


class PricingSettings(BaseModel):
    spot_advisor_url: HttpUrl = Field(
        "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json",
        description="where `cloudoptim data refresh` downloads the Spot Advisor feed",
    )
    download_timeout_s: Seconds = Field(30.0, gt=0, description="timeout of one download, seconds")


_PROM_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Istio's standard metrics, as its proxies report them from the client side (reporter="source":
# each request counted once, not again by the server's proxy); request + response bytes both
# cross the zone boundary. "(A + B) or A or B" keeps a pair that has only one of the two series.
# {window} is replaced by `window`.
_BY = "sum by (source_workload, source_workload_namespace, destination_workload, destination_workload_namespace)"
_REQUEST = _BY + ' (increase(istio_request_bytes_sum{reporter="source"}[{window}]))'
_RESPONSE = _BY + ' (increase(istio_response_bytes_sum{reporter="source"}[{window}]))'
DEFAULT_TRAFFIC_PROMQL = f"({_REQUEST} + {_RESPONSE}) or {_REQUEST} or {_RESPONSE}"


def _label_name(value: str) -> str:
    if not _PROM_LABEL.match(value):
        raise ValueError(f"{value!r} is not a Prometheus label name (letters, digits and _, e.g. source_workload)")
    return value


PromLabel = Annotated[str, AfterValidator(_label_name)]


class TrafficSettings(BaseModel):
    """How a Prometheus traffic source (a cluster's traffic source given as an http(s) URL) is read."""

    promql: str = Field(
        DEFAULT_TRAFFIC_PROMQL,
        description="PromQL returning bytes sent per client/destination workload over {window}; default Istio's",
    )
    window: str = Field("1d", description="Prometheus duration the query sums over (e.g. 1d, 12h); bytes are scaled to a day")
    timeout_s: Seconds = Field(30.0, gt=0, description="timeout of one Prometheus query, seconds")
    source_label: PromLabel = Field("source_workload", description="label naming the client workload")
    source_namespace_label: PromLabel = Field("source_workload_namespace", description="label naming its namespace")
    destination_label: PromLabel = Field("destination_workload", description="label naming the destination workload or Service")
    destination_namespace_label: PromLabel = Field(
        "destination_workload_namespace", description="label naming the destination's namespace"
    )

    @field_validator("promql")
    @classmethod
    def _check_promql(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the traffic PromQL must not be empty")
        return value.strip()

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        if not _PROM_DURATION.match(value.strip()):
            raise ValueError(f"{value!r} is not a Prometheus duration (for example 1d or 12h)")
        return value.strip()


class WorkerSettings(BaseModel):
    scan_interval_minutes: int = Field(60, ge=1, description="how often scheduled scans run")
    poll_interval_s: Seconds = Field(5.0, gt=0, description="how often the worker polls the DB for scan requests, seconds")
    stop_timeout_s: Seconds = Field(20.0, ge=0, description="how long a stopping worker waits for the running scan, seconds")
    log_format: Literal["text", "json"] = Field("text", description="worker log lines: text for a terminal, json for a log pipeline")
    liveness_file: str = Field("", description="file the worker touches every heartbeat; empty = worker.alive in the data directory")
    realized_check_minutes: int = Field(60, ge=1, description="how often the worker measures realized savings of applied executions")

    @field_validator("liveness_file")
    @classmethod
    def _check_liveness_file(cls, value: str) -> str:
        path = Path(value).expanduser() if value.strip() else None
        if path is not None and path.is_dir():
            raise ValueError(f"{value} is a directory; give a file path such as {path / 'worker.alive'}")
        return str(path) if path is not None else ""


class UiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address the web UI listens on")
    port: int = Field(8501, ge=1, le=65535, description="port the web UI listens on")

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if not value.strip() or any(c.isspace() for c in value.strip()):
            raise ValueError(f"{value!r} is not a host name or address (for example 127.0.0.1)")
        return value.strip()


class AuthSettings(BaseModel):
    session_idle_minutes: int = Field(60, ge=1, le=24 * 60, description="a signed-in session ends after this long without a page run, minutes")
    session_max_hours: int = Field(12, ge=1, le=24 * 30, description="a session ends this long after sign-in however active, hours")
    max_failed_logins: int = Field(5, ge=1, le=100, description="wrong passwords in a row before an account is locked")
    lockout_minutes: int = Field(15, ge=1, le=24 * 60, description="how long a locked account refuses every sign-in, minutes")
    oidc: bool = Field(False, description="offer Streamlit's st.login (OIDC, configured in .streamlit/secrets.toml) next to local accounts")
    oidc_default_role: Literal["viewer", "analyst", "admin"] = Field("viewer", description="role of an OIDC user signing in for the first time")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="where SQLite and caches live")
    log_level: str = Field("INFO", description="Python logging level (DEBUG, INFO, WARNING, ERROR)")
    db: DbSettings = DbSettings()
    aws: AwsSettings = AwsSettings()
    k8s: K8sSettings = K8sSettings()
    executor: ExecutorSettings = ExecutorSettings()
    spot: SpotSettings = SpotSettings()
    pricing: PricingSettings = PricingSettings()
    worker: WorkerSettings = WorkerSettings()
    ui: UiSettings = UiSettings()
    traffic: TrafficSettings = TrafficSettings()
    auth: AuthSettings = AuthSettings()

    @field_validator("data_dir")
    @classmethod
    def _check_data_dir(cls, value: Path) -> Path:
        value = value.expanduser()
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} exists and is not a directory")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.upper() not in logging.getLevelNamesMapping():
            raise ValueError(f"{value!r} is not a logging level (use DEBUG, INFO, WARNING or ERROR)")
        return value.upper()

    @property
    def database_url(self) -> str:
        """The configured URL, or the SQLite file in the data directory."""
        if self.db.url:
            return self.db.url
        return f"sqlite:///{self.data_dir / 'cloudoptim.db'}"

    @property
    def pricing_dir(self) -> Path:
        """Where refreshed price files are kept (they win over the shipped copies)."""
        return self.data_dir / "pricing"


def _variable(loc: tuple[int | str, ...]) -> str:
    # A list item's index is not part of the variable name (CLOUDOPTIM_AWS__REGIONS, not ..__0).
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc if isinstance(p, str))


def _known_variables() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(ENV_PREFIX + name.upper())
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            names |= {f"{ENV_PREFIX}{name.upper()}__{s.upper()}" for s in sub.model_fields}
    return names


# CLOUDOPTIM_ variables that are not settings but are read elsewhere (golden-file tests, scripts/setup.sh).
NOT_SETTINGS = frozenset({"CLOUDOPTIM_UPDATE_GOLDEN", "CLOUDOPTIM_VENV", "CLOUDOPTIM_EXTRAS"})


def _unknown_variables() -> list[str]:
    """CLOUDOPTIM_ variables that name no setting (a typo would otherwise be ignored silently)."""
    known = _known_variables() | NOT_SETTINGS
    problems = []
    for var in sorted(os.environ):
        if var.upper().startswith(ENV_PREFIX) and var.upper() not in known:
            close = difflib.get_close_matches(var.upper(), known, n=1, cutoff=0.8)
            problems.append(f"{var}: not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment; raise SettingsError naming the variable on bad input."""
    problems = _unknown_variables()
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            shown = err["input"]
            # Our own validators name the value; pydantic's do not. A database URL is never echoed
            # (it may carry a password).
            own = err["type"] == "value_error"
            if not own and err["loc"][:1] != ("db",) and isinstance(shown, str | int | float):
                msg += f" (got {str(shown)[:80]!r})"
            problems.append(f"{_variable(err['loc'])}: {msg}")
    except SourceParseError as exc:  # a nested group given as one variable that is not JSON
        field = re.search(r'field "([^"]+)"', str(exc))
        problems.append(f"{ENV_PREFIX}{field.group(1).upper() if field else ''}: not valid JSON")
    else:
        if not problems:
            return settings
    raise SettingsError("invalid settings: " + "; ".join(problems))


def close_matches(value: str, known: Collection[str]) -> str:
    """' (did you mean a, b?)' or ' (known: ...)', for messages about a mistyped name."""
    close = difflib.get_close_matches(value, list(known), n=3, cutoff=0.6)
    if close:
        return f" (did you mean {', '.join(close)}?)"
    return f" (known: {', '.join(sorted(known))})"


def check_regions(settings: Settings, known: Collection[str]) -> None:
    """Refuse configured regions the price catalog does not know (a typo would price nothing)."""
    problems = [f"unknown region {r!r}{close_matches(r, known)}" for r in settings.aws.regions if r not in known]
    if problems:
        raise SettingsError(f"invalid settings: {ENV_PREFIX}AWS__REGIONS: " + "; ".join(problems))


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data directory if needed and prove it is writable; called before anything writes."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"invalid settings: {ENV_PREFIX}DATA_DIR: {path} is not a usable directory: {reason}") from None
    return path
