"""Polling with a deadline for tests of asynchronous behaviour (reconcilers, schedulers, workers):
no fixed sleeps, and a failure that shows the last value seen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(fn: Callable[[], T], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll until fn() is truthy and return it; fail with its last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)
