"""`marketdata bench`: the benchmark workloads end to end, with a progress bar; writes docs/benchmarks.{json,md}."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import click

from marketdata_pipeline.environment import PROJECT_ROOT
from marketdata_pipeline.settings import Settings

# The workloads bench.runner.run_plan reports as "<name> done: ..." on the marketdata.bench logger, in order.
WORKLOADS = ("write path", "read path", "features", "backfill", "daily update")


@click.command("bench")
@click.option("--quick", is_flag=True, help="A tiny workload (a minute or two), to check the benchmark works. "
                                            "Example: marketdata bench --quick")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=PROJECT_ROOT / "docs",
              show_default=True, help="Where benchmarks.json and benchmarks.md go. Example: --output-dir /tmp/bench")
@click.option("--only", type=click.Choice(["dagster"]), default=None,
              help="Only the backfill and the daily update (through Dagster, under the rate limit), with their "
                   "targets; prints their figures as JSON and writes no report. Example: --only dagster")
def command(quick: bool, output_dir: Path, only: str | None) -> int:
    """Run the benchmark (about 15 minutes) on its own scratch databases and print the report.

    Uses DATABASE_URL's server when set, else a temporary embedded PostgreSQL.

    \b
    Examples:
      marketdata bench --quick
      DATABASE_URL=postgresql://postgres@127.0.0.1/postgres marketdata bench
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from marketdata_pipeline.bench.plans import FULL, QUICK
    from marketdata_pipeline.bench.report import write_report
    from marketdata_pipeline.bench.runner import run_plan, run_through_dagster
    from marketdata_pipeline.cli.console import stderr
    from marketdata_pipeline.storage.database import start_embedded

    # Its own server unless DATABASE_URL names one: the benchmark creates and drops scratch databases.
    admin_url = Settings.from_env().database_url or start_embedded(
        Path(tempfile.mkdtemp(prefix="mdp-bench-pg-")) / "data", cleanup="delete"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=stderr()) as progress:
        task = progress.add_task("benchmark: write path", total=len(WORKLOADS))
        handler = _ProgressHandler(progress, task)
        logger = logging.getLogger("marketdata.bench")
        # Only the bar shows the runner's progress: its INFO lines stay off the root handler.
        saved = logger.level, logger.propagate
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(handler)
        try:
            if only:
                progress.update(task, completed=WORKLOADS.index("backfill"), description="benchmark: backfill")
                report = run_through_dagster(QUICK if quick else FULL, admin_url)
            else:
                report = run_plan(QUICK if quick else FULL, admin_url)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]
    if only:
        print(json.dumps(report, indent=2, default=str))
        return 0
    json_path, md_path = write_report(report, output_dir)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0


class _ProgressHandler(logging.Handler):
    """Advances the bar on each "<workload> done" line of the runner and names the next workload."""

    def __init__(self, progress, task) -> None:  # noqa: ANN001 - rich objects
        super().__init__(logging.INFO)
        self.progress, self.task = progress, task

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        done = next((w for w in WORKLOADS if message.startswith(f"{w} done")), None)
        if done is None:
            return
        index = WORKLOADS.index(done) + 1
        self.progress.console.print(f"[green]done[/green] {done}")
        following = f"benchmark: {WORKLOADS[index]}" if index < len(WORKLOADS) else "benchmark: report"
        self.progress.update(self.task, completed=index, description=following)
