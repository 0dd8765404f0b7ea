"""Run the sandbox: in a background thread for tests (`SandboxServer`) or in the foreground for the CLI."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime

import uvicorn

from marketdata_pipeline.sandbox.app import SandboxState, create_app
from marketdata_pipeline.sandbox.config import SandboxConfig
from marketdata_pipeline.sandbox.requestlog import RequestRecord

__all__ = ["SandboxConfig", "SandboxServer", "RequestRecord", "run_sandbox"]

_STARTUP_TIMEOUT_S = 15.0


class _DropExpectedResetNoise(logging.Filter):
    """The "reset" fault deliberately abandons a response; uvicorn logs that as an error each time."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_DropExpectedResetNoise())


def _uvicorn_config(app, host: str, port: int) -> uvicorn.Config:
    # A short graceful shutdown so requests stalled by a "timeout" fault don't hold up stop().
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=1)


class SandboxServer:
    """The sandbox on a loopback port in a background thread; a context manager that starts and stops it."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self._state = SandboxState(config or SandboxConfig())
        self.host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def config(self) -> SandboxConfig:
        return self._state.config

    @config.setter
    def config(self, value: SandboxConfig) -> None:
        self._state.config = value

    def set_now(self, now: datetime) -> None:
        self._state.config.update({"now": now})

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received so far (completed ones), in arrival order; a snapshot."""
        return self._state.log.snapshot()

    def clear_requests(self) -> None:
        self._state.log.clear()

    def start(self) -> None:
        if self._server is not None:
            return
        # Bind here so the ephemeral port is known before uvicorn starts.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        port = sock.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(create_app(self._state), self.host, port))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server failed to start on {self.host}:{port}")
            time.sleep(0.01)
        self.base_url = f"http://{self.host}:{port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_sandbox(host: str, port: int, config: SandboxConfig) -> None:
    """Serve until interrupted (the `marketdata sandbox --port N` command)."""
    uvicorn.Server(_uvicorn_config(create_app(SandboxState(config)), host, port)).run()
