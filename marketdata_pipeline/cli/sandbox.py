"""`marketdata sandbox`: the Polygon-compatible sandbox server in the foreground."""

from __future__ import annotations

import click

from marketdata_pipeline.sandbox.server import SandboxConfig, run_sandbox


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address. Example: --host 0.0.0.0")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True,
              help="Port. Example: --port 9000")
@click.option("--rate-limit", type=click.IntRange(min=1), default=None,
              help="Requests per minute per key, answered with 429 beyond it (default: no limit). "
                   "Example: --rate-limit 5")
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds added to every request. Example: --latency 0.2")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Fraction of requests that fail with a 5xx. Example: --fault-rate 0.1")
def command(host: str, port: int, rate_limit: int | None, latency: float, fault_rate: float) -> int:
    """Serve SYNTHETIC market data over a Polygon-compatible API (any non-empty API key is accepted).

    \b
    Examples:
      marketdata sandbox
      marketdata sandbox --port 9000 --rate-limit 5 --fault-rate 0.1
      POLYGON_BASE_URL=http://127.0.0.1:9000 POLYGON_API_KEY=any marketdata run
    """
    config = SandboxConfig(rate_limit_per_minute=rate_limit, latency_s=latency, fault_rate=fault_rate)
    print(f"Polygon sandbox (SYNTHETIC data) on http://{host}:{port}; Ctrl-C stops it")
    run_sandbox(host, port, config)
    return 0
