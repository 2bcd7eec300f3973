"""Waiting: always a poll of the condition itself, bounded by a deadline. Never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 10.0  # seconds: generous for a loaded CI machine; a healthy run waits milliseconds


def wait_until(predicate: Callable[[], T], timeout: float = DEADLINE, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy and return that; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def poll(predicate: Callable[[], T], timeout: float = 3.0, interval: float = 0.01) -> T:
    """The predicate's last value, polled until it is truthy or the time is up (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
