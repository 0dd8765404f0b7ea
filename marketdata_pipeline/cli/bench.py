"""`marketdata bench`: the benchmark workloads end to end; writes docs/benchmarks.{json,md}."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from marketdata_pipeline.environment import PROJECT_ROOT
from marketdata_pipeline.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="run the benchmark (about 15 minutes; --quick for a smoke run)")
    parser.add_argument("--quick", action="store_true", help="a tiny workload, to check the benchmark works")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_ROOT / "docs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marketdata_pipeline.bench.plans import FULL, QUICK
    from marketdata_pipeline.bench.report import write_report
    from marketdata_pipeline.bench.runner import run_plan
    from marketdata_pipeline.storage.database import start_embedded

    # Its own server unless DATABASE_URL names one: the benchmark creates and drops scratch databases.
    admin_url = Settings.from_env().database_url or start_embedded(
        Path(tempfile.mkdtemp(prefix="mdp-bench-pg-")) / "data", cleanup="delete"
    )
    report = run_plan(QUICK if args.quick else FULL, admin_url)
    json_path, md_path = write_report(report, args.output_dir)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0
