"""Polling, once: wait for a condition, or for a started server process to answer over HTTP."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout_s: float, interval_s: float = 0.5) -> T:
    """The condition's first truthy value, or its last (falsy) value after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


def wait_until_serving(
    process: subprocess.Popen[bytes], url: str, what: str, timeout_s: float, interval_s: float = 0.2
) -> None:
    """Poll `url` until it answers 200; fail at once if `process` exits first, or after `timeout_s`."""

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} during start-up")
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_for(answers, timeout_s, interval_s):
        raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")
