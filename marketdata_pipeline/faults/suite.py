"""Runs the scenarios on one stack: the suite's own PostgreSQL, the sandbox process, `dagster dev`."""

from __future__ import annotations

import logging
import os
import platform
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import dagster

from marketdata_pipeline.bench.sandbox_process import SandboxProcess
from marketdata_pipeline.bench.stack import stack
from marketdata_pipeline.faults import scenarios as sc
from marketdata_pipeline.faults.postgres import OwnPostgres
from marketdata_pipeline.faults.truth import Comparison

log = logging.getLogger("marketdata.faults")

# In run order. The killed run goes last: its automatic retry may still be launched after the scenario ends.
ON_STACK = {
    "revised_bars": sc.revised_bars,
    "concurrent_runs": sc.concurrent_runs,
    "postgres_restart": sc.postgres_restart,
    "api_outage": sc.api_outage,
    "rate_limit_storm": sc.rate_limit_storm,
    "run_killed": sc.run_killed,
}
SCENARIOS = [*ON_STACK, "bad_input"]
# The bad-input commands use a database of their own; they run while the API outage only waits.
ALONGSIDE = ("api_outage", "bad_input")


def _crashed(name: str, exc: BaseException) -> dict:
    log.error("%s crashed:\n%s", name, "".join(traceback.format_exception(exc)))
    return sc._result(name, [], Comparison(0, 0, 0, 0, 0), False, None,
                      f"the scenario itself failed: {type(exc).__name__}: {exc}"[:200])


def _timed(name: str, fn, *args) -> dict:
    log.info("%s: start", name)
    started = time.monotonic()
    try:
        result = fn(*args)
    except Exception as exc:  # one broken scenario must not hide the others' results
        result = _crashed(name, exc)
    result["scenario_s"] = round(time.monotonic() - started, 1)
    log.info("%s: %s in %.0f s (lost %s, duplicated %s, stale %s) — %s", name,
             "recovered" if result["recovered"] else "NOT RECOVERED", result["scenario_s"], result["rows_lost"],
             result["rows_duplicated"], result["rows_stale"], result["user_sees"][:160])
    return result


def run_suite(names: list[str] | None = None) -> tuple[list[dict], dict]:
    names = names or SCENARIOS
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    started = time.monotonic()
    results: dict[str, dict] = {}
    with OwnPostgres() as postgres, SandboxProcess(**sc.BASE_SANDBOX) as sandbox:
        log.info("PostgreSQL, sandbox up; starting dagster dev")
        with stack(postgres.admin_url, sandbox, sc.SYMBOLS, sc.HISTORY_START, None) as s:
            ctx = sc.Context(s, postgres)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alongside") as pool:
                side = None
                for name in [n for n in ON_STACK if n in names]:
                    if name == ALONGSIDE[0] and ALONGSIDE[1] in names:
                        side = pool.submit(_timed, ALONGSIDE[1], sc.bad_input, postgres.admin_url, sandbox.base_url)
                    results[name] = _timed(name, ON_STACK[name], ctx)
                if "bad_input" in names:
                    results["bad_input"] = side.result() if side else _timed(
                        "bad_input", sc.bad_input, postgres.admin_url, sandbox.base_url)
    meta = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "total_s": round(time.monotonic() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "dagster": dagster.__version__,
    }
    return [results[n] for n in SCENARIOS if n in results], meta
