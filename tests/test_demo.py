"""`cloudoptim demo` and `cloudoptim inventory --sandbox` run as a user would, in subprocesses:
one demo per data directory, `--inject` only into a running demo, nothing left running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from sandbox.estate import CLUSTERS, node_plans
from tests.waiting import wait_until

CLI = [str(Path(sys.executable).parent / "cloudoptim")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """All live descendants of `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (this sandbox's init does not reap them)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_inventory_of_the_sandbox_reports_the_estate_as_json() -> None:
    result = subprocess.run([*CLI, "inventory", "--sandbox", "--format", "json"], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    plans = node_plans(7)
    clusters = {c["name"]: c for c in report["clusters"]}
    assert set(clusters) == {c.name for c in CLUSTERS}
    for name, cluster in clusters.items():
        assert cluster["nodes"] == len(plans[name])
        assert cluster["pods"] > cluster["nodes"]
        assert float(cluster["monthly_cost"]) > 0
    [account] = report["accounts"]
    assert account["region"] == "us-east-1"
    assert account["instances"] == sum(len(p) for p in plans.values()) + account["instances_outside_clusters"]
    assert account["instances_outside_clusters"] >= 3
    assert 0 < account["unattached_volumes"] < account["volumes"]
    assert float(account["monthly_cost"]) > 0


def _reaped_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid no longer exists
    return child.pid


def _write_stale_state(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "demo.json").write_text(json.dumps({"pid": _reaped_pid(), "url": "http://127.0.0.1:1", "aws_env": {}}))


def test_inject_with_no_demo_running_says_so_and_starts_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for stale in (False, True):  # no state file at all, then one left behind by a killed demo
        if stale:
            _write_stale_state(data_dir)
        result = subprocess.run([*CLI, "demo", "--inject", "spot-interruption"], capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert f"error: no demo is running on {data_dir}" in result.stderr
        assert not (data_dir / "sandbox").exists() and "starting the sandbox" not in result.stderr


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/_stcore/health", timeout=2).ok
    except requests.RequestException:
        return False


def test_demo_serves_the_ui_refuses_a_second_demo_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _write_stale_state(data_dir)  # a killed demo's state file must not block a new demo
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*CLI, "demo", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: proc.poll() is not None or _healthy(url), timeout=180, interval=0.5)
        assert proc.poll() is None, "the demo exited before its UI answered"
        state = json.loads((data_dir / "demo.json").read_text())
        assert state["url"] == url and state["pid"] == proc.pid

        kubeconfig = (data_dir / "sandbox" / "kubeconfig").read_bytes()
        second = subprocess.run([*CLI, "demo", "--port", str(_free_port())], capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert second.returncode == 2, second.stderr
        assert f"a demo is already running on {data_dir} (pid {proc.pid}, {url})" in second.stderr
        assert "starting the sandbox" not in second.stderr
        assert (data_dir / "sandbox" / "kubeconfig").read_bytes() == kubeconfig
        assert json.loads((data_dir / "demo.json").read_text()) == state

        inject = subprocess.run([*CLI, "demo", "--inject", "spot-interruption"], capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert inject.returncode == 0 and "Spot interruption warning sent" in inject.stdout, inject.stderr
        children = _descendants(proc.pid)
        assert len(children) >= 2  # the worker and the UI at least
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output
    assert "demo stopped" in output
    assert [pid for pid in children if _alive(pid)] == []
    assert not (data_dir / "demo.json").exists()
