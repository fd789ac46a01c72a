"""Fixtures for the collector tests: a local Kubernetes API, a local AWS API, closed ports, HTTP stubs.

Everything runs on 127.0.0.1 and is reached through the real clients (kubernetes, boto3, requests).
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandbox.aws import LocalAws
from sandbox.k8s_emulator import LocalKubernetes

CONTEXT = "test-cluster"


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(k8s: LocalKubernetes, tmp_path: Path) -> Path:
    return k8s.write_kubeconfig(tmp_path / "kubeconfig", CONTEXT)


def free_port() -> int:
    """A loopback port nobody listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def aws_env(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalAws:
    """An empty moto, reached the production way: AWS_ENDPOINT_URL and the standard credential chain."""
    local_aws.reset()
    isolate_aws_env(monkeypatch, tmp_path)
    for key, value in local_aws.env().items():
        monkeypatch.setenv(key, value)
    return local_aws


def isolate_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer profile, no shared credentials file, no instance metadata lookups."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@dataclass
class HttpStub:
    """A loopback HTTP server answering every request with one canned response (after a delay)."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    delay: float = 0.0
    requests: list[str] = field(default_factory=list)
    url: str = ""


StubFactory = Callable[..., HttpStub]


@pytest.fixture
def http_stub() -> Iterator[StubFactory]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(**kwargs: object) -> HttpStub:
        stub = HttpStub(**kwargs)  # type: ignore[arg-type]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                stub.requests.append(self.path)
                time.sleep(stub.delay)
                try:
                    self.send_response(stub.status)
                    self.send_header("Content-Type", stub.content_type)
                    self.send_header("Content-Length", str(len(stub.body)))
                    self.end_headers()
                    self.wfile.write(stub.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        stub.url = f"http://127.0.0.1:{server.server_address[1]}"
        return stub

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def k8s_status(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message}
    ).encode()
