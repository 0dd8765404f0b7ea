"""`marketdata faults`: the fault suite end to end; writes docs/reliability.{json,md}."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from marketdata_pipeline.environment import PROJECT_ROOT


def register(sub: argparse._SubParsersAction) -> None:
    from marketdata_pipeline.faults.report import PROVES  # the scenario names, without importing Dagster

    parser = sub.add_parser("faults", help="run the fault suite (about 8 minutes); exits non-zero if data was lost")
    parser.add_argument("--only", nargs="+", choices=list(PROVES), metavar="SCENARIO",
                        help=f"run only these scenarios ({', '.join(PROVES)})")
    parser.add_argument("--output-dir", type=Path, default=PROJECT_ROOT / "docs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from marketdata_pipeline.faults.report import problems, write_report
    from marketdata_pipeline.faults.suite import run_suite

    # Progress lines are ours; the libraries' INFO chatter would bury them.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("marketdata.faults").setLevel(logging.INFO)
    results, meta = run_suite(args.only)
    json_path, md_path = write_report(results, meta, args.output_dir)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    failed = problems(results)
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0
