"""The worker's Spot poller alone in its own process, for `python -m bench spot-reaction`.

In production the worker is one process and AWS and the Kubernetes API are elsewhere; in the
benchmark the sandbox (moto server and the local Kubernetes APIs) runs in the benchmark's own
process, so a poller in that process would share one interpreter lock with the AWS and
Kubernetes servers it talks to. This child runs the real `SpotPoller` (and its handler) the way
`cloudoptim worker` does, configured by the environment the parent passes
(`CLOUDOPTIM_DATA_DIR`, `CLOUDOPTIM_AWS__SPOT_QUEUE_URL`, the sandbox's AWS variables). It prints
"ready" once warmed up and stops when its standard input closes.
"""

from __future__ import annotations

import logging
import sys

from app.bootstrap import open_database
from app.settings import load_settings
from background.spot_poller import SpotPoller


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = load_settings()
    db = open_database(settings)
    poller = SpotPoller(settings, db)
    if not poller.start() or not poller.ready.wait(120):
        raise SystemExit("the Spot poller did not start")
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes it
    poller.stop(30)
    db.dispose()


if __name__ == "__main__":
    main()
