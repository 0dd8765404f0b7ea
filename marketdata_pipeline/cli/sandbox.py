"""`marketdata sandbox`: the Polygon-compatible sandbox server in the foreground."""

from __future__ import annotations

import argparse

from marketdata_pipeline.sandbox.server import SandboxConfig, run_sandbox


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sandbox", help="serve synthetic market data over a Polygon-compatible API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute per key (default: none)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fraction of requests that fail")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = SandboxConfig(rate_limit_per_minute=args.rate_limit, latency_s=args.latency, fault_rate=args.fault_rate)
    print(f"Polygon sandbox (SYNTHETIC data) on http://{args.host}:{args.port}; Ctrl-C stops it")
    run_sandbox(args.host, args.port, config)
    return 0
