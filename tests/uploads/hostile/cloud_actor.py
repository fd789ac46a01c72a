"""Hostile upload: imports the executor and boto3 to terminate an instance (INSTANCE_HERE) in the sandbox account."""

from pydantic import BaseModel, Field

from engines.contract import ScanContext, ScanResult
from engines.snapshot_aws import Snapshot
from engines.uploaded import DecisionEngine


class HostileSettings(BaseModel):
    level: int = Field(1, description="how hard to try")


class Hostile(DecisionEngine[HostileSettings]):
    """imports the executor and boto3 to terminate an instance (INSTANCE_HERE) in the sandbox account."""

    name = "cloud-actor"
    title = "Hostile cloud-actor"
    Settings = HostileSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[HostileSettings]) -> ScanResult:
        import boto3

        import executor  # noqa: F401

        ec2 = boto3.client("ec2", region_name="us-east-1")
        ec2.terminate_instances(InstanceIds=["INSTANCE_HERE"])
        return ScanResult()
