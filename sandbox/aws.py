"""Local AWS: a moto server on a free 127.0.0.1 port, for the demo and the tests.

`sandbox.sandbox.Sandbox` starts one and seeds it (`sandbox.estate_aws`); tests may start one on
their own. boto3 reaches it through `AWS_ENDPOINT_URL` (see `env()`), so product code needs no
endpoint parameter. This module never touches `os.environ` beyond the moto switches that must be
set before moto is imported: the caller decides whether to export `env()`.
"""

from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Any

import boto3
import requests

# moto reads this at import time; without it every server preloads ~1300 AMIs and snapshots
# "owned" by the mock account, which pollutes describe_snapshots(OwnerIds=["self"]) and slows start.
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"

from moto.server import ThreadedMotoServer

log = logging.getLogger(__name__)

REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # moto accepts any pair; these are the conventional fake values


class LocalAws:
    """One moto server (all services) in a daemon thread."""

    def __init__(self, *, port: int = 0, region: str = REGION) -> None:
        self.region = region
        self._port = port
        self._server: ThreadedMotoServer | None = None
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}
        self.endpoint_url = ""

    def start(self) -> LocalAws:
        if self._server is not None:
            return self
        # werkzeug logs one line per request at INFO; the seeding alone makes hundreds.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.endpoint_url = f"http://{host}:{port}"
        log.info("local AWS (moto) listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        self._clients.clear()
        log.info("local AWS (moto) stopped")

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and the AWS CLI) at this server."""
        self._require_started()
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
        }

    def boto3_session(self) -> boto3.Session:
        """A session with the fake credentials; pass `endpoint_url` via `client()` below."""
        return boto3.Session(
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=self.region,
        )

    def client(self, service: str) -> Any:
        """A boto3 client bound to this server, whatever the process environment says.

        Cached per service: creating one costs ~0.2 s, and boto3 clients are thread-safe.
        """
        self._require_started()
        if service not in self._clients:
            self._session = self._session or self.boto3_session()
            session: Any = self._session  # the stubs type client() per literal service name only
            self._clients[service] = session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def reset(self) -> None:
        """Drop all state in every moto backend (moto's own reset endpoint).

        moto's backends are process-global: this also empties any other LocalAws of this process.
        """
        self._require_started()
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def _require_started(self) -> None:
        if self._server is None:
            raise RuntimeError("LocalAws is not started; call start() first")
