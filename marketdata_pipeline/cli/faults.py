"""`marketdata faults`: the fault suite end to end; writes docs/reliability.{json,md}."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from marketdata_pipeline.environment import PROJECT_ROOT
from marketdata_pipeline.faults.report import PROVES  # the scenario names, without importing Dagster


@click.command("faults", epilog="\b\nScenarios:\n  " + "\n  ".join(PROVES))
@click.option("--only", multiple=True, type=click.Choice(list(PROVES)), metavar="SCENARIO",
              help="Run only this scenario (repeatable; listed below). Example: --only bad_input --only api_outage")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=PROJECT_ROOT / "docs",
              show_default=True, help="Where reliability.json and reliability.md go. Example: --output-dir /tmp/faults")
def command(only: tuple[str, ...], output_dir: Path) -> int:
    """Run the fault suite (about 6 minutes); exit 1 if any scenario lost data or misbehaved.

    \b
    Examples:
      marketdata faults
      marketdata faults --only bad_input
    """
    from marketdata_pipeline.faults.report import problems, write_report
    from marketdata_pipeline.faults.suite import run_suite

    # Progress lines are ours; the libraries' INFO chatter would bury them.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("marketdata.faults").setLevel(logging.INFO)
    results, meta = run_suite(list(only) or None)
    json_path, md_path = write_report(results, meta, output_dir)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    failed = problems(results)
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0
