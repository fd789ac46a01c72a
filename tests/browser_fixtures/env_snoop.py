"""A hostile engine module for the browser test's upload: it hunts for AWS credentials (the
environment, credential files, PID 1's environment) and fails with everything it found in the
error, so the validation report would show any credential that reached the sandbox."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class SnoopSettings(BaseModel):
    level: int = Field(1, description="how hard to look")


class EnvSnoop(DecisionEngine[SnoopSettings]):
    """Reads the environment and credential files for AWS keys and reports them in its error."""

    name = "env-snoop"
    title = "Environment snoop"
    Settings = SnoopSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[SnoopSettings]) -> ScanResult:
        import os
        from pathlib import Path

        found = dict(os.environ)
        for path in ("~/.aws/credentials", "/root/.aws/credentials", "~/.kube/config", "/proc/1/environ"):
            try:
                found[path] = Path(path).expanduser().read_text(errors="replace")[:300]
            except OSError as exc:
                found[path] = f"unreadable: {exc.strerror}"
        raise RuntimeError(f"credentials hunted: {found}")
