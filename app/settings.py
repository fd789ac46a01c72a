"""Process settings: one pydantic-settings object built at the process edge and passed down.

Environment variables use the prefix `CLOUDOPTIM_` and `__` for nesting, e.g.
`CLOUDOPTIM_DB__URL=postgresql+psycopg://user@host/db`. The CLI, the UI entrypoint and the worker
call `load_settings()` once; nothing else reads the environment for configuration.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

APP_NAME = "cloudoptim"


def default_data_dir() -> Path:
    """Per-user data directory (e.g. ~/.local/share/cloudoptim on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME))


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the environment variable to fix."""


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
    regions: list[str] = Field(default_factory=lambda: ["us-east-1"], description="regions to collect")
    spot_queue_url: str = Field("", description="SQS queue URL receiving Spot interruption warnings")


class K8sSettings(BaseModel):
    kubeconfig: str = Field("", description="kubeconfig path; empty = ~/.kube/config")
    page_size: int = Field(500, ge=1, le=5000, description="objects per list page")
    request_timeout_s: float = Field(10.0, gt=0, description="timeout of one API request, seconds")


class ExecutorSettings(BaseModel):
    dry_run: bool = Field(False, description="plan actions but never apply them")
    drain_timeout_s: int = Field(110, ge=10, description="deadline for one node drain, seconds")
    max_nodes_drained_per_hour: int = Field(3, ge=0, description="disruption budget per cluster")
    protected_namespaces: list[str] = Field(default_factory=lambda: ["kube-system"])


class PricingSettings(BaseModel):
    spot_advisor_url: str = Field(
        "https://spot-bid-advisor.s3.amazonaws.com/spot-advisor-data.json",
        description="where `cloudoptim data refresh` downloads the Spot Advisor feed",
    )
    download_timeout_s: float = Field(30.0, gt=0, description="timeout of one download, seconds")


class WorkerSettings(BaseModel):
    scan_interval_minutes: int = Field(60, ge=1, description="how often scheduled scans run")
    poll_interval_s: float = Field(5.0, gt=0, description="how often the worker polls the DB")


class UiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address the web UI listens on")
    port: int = Field(8501, ge=1, le=65535, description="port the web UI listens on")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLOUDOPTIM_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="where SQLite and caches live")
    log_level: str = Field("INFO", description="Python logging level")
    db: DbSettings = DbSettings()
    aws: AwsSettings = AwsSettings()
    k8s: K8sSettings = K8sSettings()
    executor: ExecutorSettings = ExecutorSettings()
    pricing: PricingSettings = PricingSettings()
    worker: WorkerSettings = WorkerSettings()
    ui: UiSettings = UiSettings()

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


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment; raise SettingsError naming the variable on bad input."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            var = "CLOUDOPTIM_" + "__".join(str(p).upper() for p in err["loc"])
            problems.append(f"{var}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from exc
