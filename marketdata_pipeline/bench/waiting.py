"""Child server processes, once: wait for a condition or for a started server to answer, stop a process group."""

from __future__ import annotations

import os
import signal
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


def wait_until_answers(
    process: subprocess.Popen[bytes], probe: Callable[[], bool], what: str, timeout_s: float, interval_s: float = 0.2
) -> None:
    """Call `probe` until it returns True; fail at once if `process` exits first, or after `timeout_s`."""

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} during start-up")
        return probe()

    if not wait_for(answers, timeout_s, interval_s):
        raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")


def wait_until_serving(
    process: subprocess.Popen[bytes], url: str, what: str, timeout_s: float, interval_s: float = 0.2
) -> None:
    """Poll `url` until it answers 200; fail at once if `process` exits first, or after `timeout_s`."""

    def ok() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until_answers(process, ok, what, timeout_s, interval_s)


def stop_process_group(process: subprocess.Popen[bytes] | None, sig: int, timeout_s: float = 30) -> None:
    """Send `sig` to the group of a process started with start_new_session; SIGKILL if it outlives `timeout_s`."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()
