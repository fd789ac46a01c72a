"""Hostile engine uploads: each is contained by the sandbox, ends FAILED with a report naming what
happened, reads no credential, reaches no network, leaves nothing behind, and the validator and
the database carry on (every test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.db.states import UploadState
from app.services.engine_uploads import UploadRefused, UploadView, list_uploads, set_upload_enabled
from app.services.upload_sandbox import Limits, containment
from sandbox.aws import LocalAws
from tests.uploads.conftest import ADMIN, FAST, HERE, validated

SECRET = "FAKE-SECRET-d41d8cd98f00b204e9800998ecf8427e"


def _report_text(view: UploadView) -> str:
    assert view.report is not None
    return json.dumps(view.report.as_json()) + view.reason


def _failed(view: UploadView, *needles: str) -> str:
    assert view.state is UploadState.FAILED, view.report
    text = _report_text(view)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {view.reason!r}"
    return text


def _uid_processes(uid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if any(line.startswith("Uid:") and line.split()[1] == str(uid) for line in status.splitlines()):
            found.append(entry.name)
    return found


def _still_usable(db: Engine, name: str) -> None:
    """The DB answers, and the failed module cannot be enabled."""
    assert any(u.name == name for u in list_uploads(db))
    with pytest.raises(UploadRefused, match="only a module that passed"):
        set_upload_enabled(db, name, True, actor=ADMIN)


def test_a_module_reading_the_environment_finds_no_aws_key_kubeconfig_or_db_url(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("CLOUDOPTIM_DB__URL_SECRET_PROBE", SECRET)
    view = validated(engine, "hostile/env_reader.py")
    text = _failed(view, "environment and credential files seen", "'PATH'")
    assert SECRET not in text
    assert "AKIAFAKE" not in text
    assert "KUBECONFIG" not in view.reason  # the environment the module listed
    assert "CLOUDOPTIM" not in view.reason
    assert "AWS_" not in view.reason
    _still_usable(engine, "env-reader")


def test_a_module_opening_a_socket_to_a_local_listener_never_connects(engine: Engine) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        view = validated(engine, "hostile/socket_client.py", PORT_HERE=str(port))
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing waits in the backlog: no connection was made
            listener.accept()
    if containment().network_isolated:
        _failed(view, "Network is unreachable", "the sandbox has no network")
    else:
        pytest.skip(f"this machine cannot isolate the network: {containment().network}")


def test_a_fork_bomb_stops_at_the_process_limit_and_leaves_no_process_behind(engine: Engine) -> None:
    view = validated(engine, "hostile/fork_bomb.py")
    if containment().mode != "namespaces":
        pytest.skip(f"process containment here: {containment().processes}")
    _failed(view, "Resource temporarily unavailable", "the process limit was reached")
    assert _uid_processes(65534) == []
    _still_usable(engine, "fork-bomb")


def test_an_endless_loop_is_killed_at_the_wall_clock_timeout(engine: Engine) -> None:
    view = validated(engine, "hostile/infinite_loop.py", limits=Limits(wall_s=2.0, cpu_s=60, memory_mib=512))
    _failed(view, "wall-clock timeout")
    _still_usable(engine, "infinite-loop")


def test_an_endless_loop_is_killed_at_the_cpu_limit_before_the_timeout(engine: Engine) -> None:
    view = validated(engine, "hostile/infinite_loop.py", limits=Limits(wall_s=60.0, cpu_s=1, memory_mib=512))
    _failed(view, "CPU limit")


def test_unbounded_allocation_hits_the_memory_limit(engine: Engine) -> None:
    view = validated(engine, "hostile/memory_hog.py")
    _failed(view, "MemoryError", "the memory limit was reached")
    _still_usable(engine, "memory-hog")


def test_a_module_using_the_executor_and_boto3_has_no_credentials_and_changes_nothing(
    engine: Engine, local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_aws.reset()
    for key, value in local_aws.env().items():
        monkeypatch.setenv(key, value)  # the parent has a working AWS endpoint and keys
    ec2 = local_aws.client("ec2")
    instance = ec2.run_instances(ImageId="ami-12345678", InstanceType="m5.large", MinCount=1, MaxCount=1)
    instance_id = instance["Instances"][0]["InstanceId"]
    view = validated(engine, "hostile/cloud_actor.py", INSTANCE_HERE=instance_id)
    text = _failed(view, "Unable to locate credentials", "the sandbox has no credentials")
    assert local_aws.endpoint_url not in text
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


@pytest.mark.parametrize("where", ["test tmp dir", "project dir"])
def test_a_write_outside_the_working_directory_fails_and_leaves_no_file(engine: Engine, tmp_path: Path,
                                                                        where: str) -> None:
    # Under /tmp the sandbox shows an empty read-only tmpfs (the folder is not even there); the
    # project is visible but read-only.
    target = tmp_path / "escaped.txt" if where == "test tmp dir" else HERE / f"escaped-{tmp_path.name}.txt"
    try:
        view = validated(engine, "hostile/escape_writer.py", TARGET_HERE=str(target))
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)
    if containment().mode != "namespaces":
        pytest.skip(f"filesystem containment here: {containment().filesystem}")
    _failed(view, "Read-only file system" if where == "project dir" else "No such file or directory")
    _still_usable(engine, "escape-writer")


def test_malformed_json_output_is_a_clear_error(engine: Engine) -> None:
    view = validated(engine, "hostile/malformed_output.py")
    _failed(view, "not valid JSON")
    _still_usable(engine, "malformed-output")


def test_negative_savings_for_a_saving_are_refused(engine: Engine) -> None:
    view = validated(engine, "hostile/negative_savings.py")
    _failed(view, "negative monthly savings", "node/sample-node-0")
    _still_usable(engine, "negative-savings")


def test_recommendations_naming_another_engine_are_refused(engine: Engine) -> None:
    view = validated(engine, "hostile/impostor.py")
    _failed(view, "name engine 'binpack', not 'impostor'")


def test_every_report_says_whether_the_network_was_isolated_and_which_limits_applied(engine: Engine) -> None:
    view = validated(engine, "hostile/malformed_output.py")
    assert view.report is not None
    assert view.report.network_isolated is containment().network_isolated
    assert view.report.network.startswith("isolated" if containment().network_isolated else "not isolated")
    limits = dict(view.report.limits)
    assert limits["address space (RLIMIT_AS)"] == f"{FAST.memory_mib} MiB"
    assert limits["processes (RLIMIT_NPROC)"] == str(FAST.processes)
    assert view.report.duration_s is not None and view.report.exit
