"""The sandbox in its own process (its own core), steered through its admin API."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx

from marketdata_pipeline.bench.dagster_dev import free_port
from marketdata_pipeline.bench.waiting import wait_until_serving


class SandboxProcess:
    def __init__(self, **config):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> SandboxProcess:
        marketdata = Path(sys.executable).parent / "marketdata"
        self.process = subprocess.Popen(
            [str(marketdata), "sandbox", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until_serving(self.process, f"{self.base_url}/_sandbox/config", "the sandbox", timeout_s=60)
        self.configure(**self.config)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def configure(self, **fields) -> None:
        body = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
        httpx.post(f"{self.base_url}/_sandbox/config", json=body, timeout=10).raise_for_status()

    def clock_run_config(self) -> dict:
        """Run config that pins the pipeline's clock to the sandbox's, as the wall clock is the real API's:
        fetch windows and grouped daily sessions are judged by it."""
        now = httpx.get(f"{self.base_url}/_sandbox/config", timeout=10).raise_for_status().json()["now"]
        return {"resources": {"health_rules": {"config": {"now": now}}}} if now else {}

    def requests(self) -> list[dict]:
        return httpx.get(f"{self.base_url}/_sandbox/requests", timeout=60).json()["requests"]

    def clear_requests(self) -> None:
        httpx.delete(f"{self.base_url}/_sandbox/requests", timeout=10).raise_for_status()
