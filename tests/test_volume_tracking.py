"""Volume tracking across scans, on SQLite and PostgreSQL: first sight, later scans, re-attachment,
CloudTrail's detach time, AccessDenied, create time, idempotence and two scans at once.

The CloudTrail side is a recording stand-in for the lookup (the boundary `track_volumes` takes as
a parameter), the real `last_detach_times` on a botocore cloudtrail client under `Stubber`, or the
real collector path against the local AWS (moto, which answers LookupEvents with HTTP 500: it does
not implement it; see tests/collectors/test_aws_cloudtrail.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.collectors.aws import AwsCollector
from app.collectors.aws_cloudtrail import Detach, DetachLookup, last_detach_times
from app.db.tables_cloud import VolumeSighting
from app.services.volume_tracking import LOOKUPS_OFF, track_volumes
from engines.snapshot_aws import AccountState, Volume, VolumeAttachment
from sandbox.aws import LocalAws
from tests.collectors.conftest import isolate_aws_env

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def vol(volume_id: str, *, instance: str | None = None, created: datetime | None = None) -> Volume:
    return Volume(volume_id=volume_id, volume_type="gp2", size_gb=100, state="in-use" if instance else "available",
                  zone="us-east-1a", region="us-east-1", create_time=created or T0 - 300 * DAY,
                  attachments=(VolumeAttachment(instance_id=instance),) if instance else ())


def account(*volumes: Volume) -> AccountState:
    return AccountState(account_id="123456789012", region="us-east-1", volumes=volumes)


class Lookup:
    """Records each call and answers with fixed detaches (or an error), like last_detach_times."""

    def __init__(self, detaches: dict[str, Detach] | None = None, error: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.result = DetachLookup(detaches=detaches or {}, error=error)

    def __call__(self, volume_ids: Sequence[str], *, start: datetime, now: datetime) -> DetachLookup:
        self.calls.append(list(volume_ids))
        assert now - start == timedelta(days=90)
        return self.result


def by_id(state: AccountState) -> dict[str, Volume]:
    return {v.volume_id: v for v in state.volumes}


def rows(db: Engine) -> list[VolumeSighting]:
    with Session(db) as session:
        return list(session.exec(select(VolumeSighting).order_by(VolumeSighting.volume_id)))


def test_the_first_scan_marks_first_seen_and_says_lookups_are_off(engine: Engine) -> None:
    out = track_volumes(engine, account(vol("vol-a"), vol("vol-b", instance="i-1")), T0, cloudtrail_lookup=None)
    a, b = by_id(out)["vol-a"], by_id(out)["vol-b"]
    assert (a.unattached_since, a.unattached_source, a.last_instance_id) == (T0, "first-seen", None)
    assert (b.unattached_since, b.unattached_source, b.last_instance_id) == (None, None, "i-1")
    assert out.cloudtrail == LOOKUPS_OFF
    assert [(r.volume_id, r.first_seen_at, r.unattached_since) for r in rows(engine)] == [
        ("vol-a", T0, T0), ("vol-b", T0, None)]


def test_a_later_scan_keeps_the_first_sighting(engine: Engine) -> None:
    track_volumes(engine, account(vol("vol-a")), T0, cloudtrail_lookup=None)
    out = track_volumes(engine, account(vol("vol-a")), T0 + 20 * DAY, cloudtrail_lookup=None)
    assert by_id(out)["vol-a"].unattached_since == T0
    [row] = rows(engine)
    assert (row.first_seen_at, row.last_seen_at) == (T0, T0 + 20 * DAY)


def test_seeing_a_volume_attached_again_resets_its_unattached_stretch(engine: Engine) -> None:
    track_volumes(engine, account(vol("vol-a")), T0, cloudtrail_lookup=None)
    mid = track_volumes(engine, account(vol("vol-a", instance="i-9")), T0 + DAY, cloudtrail_lookup=None)
    assert by_id(mid)["vol-a"].unattached_since is None
    out = track_volumes(engine, account(vol("vol-a")), T0 + 2 * DAY, cloudtrail_lookup=None)
    a = by_id(out)["vol-a"]
    assert (a.unattached_since, a.unattached_source, a.last_instance_id) == (T0 + 2 * DAY, "first-seen", "i-9")


def test_cloudtrail_detach_time_wins_and_is_looked_up_once_per_stretch_in_one_batch(engine: Engine) -> None:
    lookup = Lookup({"vol-a": Detach(T0 - 40 * DAY, "i-old")})
    out = track_volumes(engine, account(vol("vol-b"), vol("vol-a"), vol("vol-c", instance="i-1")), T0,
                        cloudtrail_lookup=lookup)
    a = by_id(out)["vol-a"]
    assert (a.unattached_since, a.unattached_source, a.last_instance_id) == (T0 - 40 * DAY, "cloudtrail", "i-old")
    assert by_id(out)["vol-b"].unattached_source == "first-seen" and out.cloudtrail is None
    assert lookup.calls == [["vol-a", "vol-b"]]  # one call for every unchecked unattached volume
    again = track_volumes(engine, account(vol("vol-a"), vol("vol-b")), T0 + DAY, cloudtrail_lookup=lookup)
    assert lookup.calls == [["vol-a", "vol-b"]] and by_id(again)["vol-a"].unattached_since == T0 - 40 * DAY


def test_access_denied_leaves_first_seen_sets_the_reason_and_asks_again_next_scan(engine: Engine) -> None:
    ct = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                       region_name="us-east-1").client("cloudtrail")
    message = ("User: arn:aws:iam::123456789012:user/analyst is not authorized to perform: cloudtrail:LookupEvents "
               "because no identity-based policy allows the cloudtrail:LookupEvents action")
    with Stubber(ct) as stub:
        for _ in range(2):
            stub.add_client_error("lookup_events", service_error_code="AccessDeniedException", service_message=message,
                                  http_status_code=400, expected_params={"LookupAttributes": ANY, "StartTime": ANY,
                                                                         "EndTime": ANY, "MaxResults": 50})
        lookup = partial(last_detach_times, ct, "us-east-1")
        out = track_volumes(engine, account(vol("vol-a")), T0, cloudtrail_lookup=lookup)
        later = track_volumes(engine, account(vol("vol-a")), T0 + DAY, cloudtrail_lookup=lookup)
        stub.assert_no_pending_responses()  # denied lookups are not marked done: the next scan tries again
    assert by_id(out)["vol-a"].unattached_source == "first-seen" and by_id(later)["vol-a"].unattached_since == T0
    assert out.cloudtrail is not None and "permission denied (AccessDeniedException)" in out.cloudtrail
    assert rows(engine)[0].detach_checked_at is None


def test_a_never_attached_volume_created_inside_the_cloudtrail_window_is_unattached_since_creation(
    engine: Engine,
) -> None:
    created = T0 - 10 * DAY
    out = track_volumes(engine, account(vol("vol-new", created=created), vol("vol-ancient")), T0,
                        cloudtrail_lookup=Lookup())
    assert (by_id(out)["vol-new"].unattached_since, by_id(out)["vol-new"].unattached_source) == (created, "create-time")
    # created 300 days ago, before the 90-day window: a detach before the window cannot be ruled out
    assert by_id(out)["vol-ancient"].unattached_source == "first-seen"


def test_tracking_the_same_scan_twice_changes_nothing(engine: Engine) -> None:
    acct = account(vol("vol-a"), vol("vol-b", instance="i-1"))
    first = track_volumes(engine, acct, T0, cloudtrail_lookup=Lookup())
    snapshot_rows = [r.model_dump() for r in rows(engine)]
    second = track_volumes(engine, acct, T0, cloudtrail_lookup=Lookup())
    assert first == second and [r.model_dump() for r in rows(engine)] == snapshot_rows


def test_two_scans_at_once_do_not_fail_and_leave_one_row_per_volume(engine: Engine) -> None:
    acct = account(*(vol(f"vol-{i:03d}") for i in range(40)))
    barrier, errors = threading.Barrier(2), []

    def scan(offset: int) -> None:
        try:
            barrier.wait()
            track_volumes(engine, acct, T0 + timedelta(seconds=offset), cloudtrail_lookup=None)
        except Exception as exc:  # reported below; a thread's exception would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = rows(engine)
    assert len(stored) == 40 and {r.volume_id for r in stored} == {v.volume_id for v in acct.volumes}
    assert all(r.unattached_since in (T0, T0 + timedelta(seconds=1)) for r in stored)


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


def test_collected_volumes_of_the_local_aws_are_tracked_and_the_missing_cloudtrail_api_is_the_reason(
    engine: Engine, local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local_aws.reset()
    isolate_aws_env(monkeypatch, tmp_path)
    for key, value in local_aws.env().items():
        monkeypatch.setenv(key, value)
    ec2 = boto3.Session().client("ec2")
    gp2 = ec2.create_volume(AvailabilityZone="us-east-1a", Size=100, VolumeType="gp2")["VolumeId"]
    collected = AwsCollector("us-east-1").collect().value
    lookup = partial(last_detach_times, boto3.Session(), "us-east-1")
    out = track_volumes(engine, collected, T0, cloudtrail_lookup=lookup)
    assert out.cloudtrail == "CloudTrail LookupEvents failed (HTTP 500: 500 Internal Server Error)"
    assert (by_id(out)[gp2].unattached_since, by_id(out)[gp2].unattached_source) == (T0, "first-seen")
