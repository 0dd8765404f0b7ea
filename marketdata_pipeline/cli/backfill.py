"""`marketdata backfill`: a partition backfill of market_data launched through the running webserver (the
UI's own path), followed partition by partition; exit 1 when a partition failed."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import click

from marketdata_pipeline.bars import partition_key
from marketdata_pipeline.bench.webserver_api import GraphQLError, WebserverAPI, WebserverUnavailableError
from marketdata_pipeline.cli.console import print_table, stderr
from marketdata_pipeline.cli.errors import OK, UNHEALTHY, CommandError, UnavailableError
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.symbols import InvalidSymbolError, validate_symbol
from marketdata_pipeline.timeframes import TIMEFRAMES

ASSET = "market_data"
POLL_S = 2.0


SYMBOLS_HELP = """\b
Arguments:
  SYMBOLS  registered tickers (`marketdata symbols add`), case does not
           matter; none = every active symbol."""


@click.command("backfill", epilog=SYMBOLS_HELP)
@click.argument("symbols", nargs=-1)
@click.option("--timeframes", default="1d", show_default=True, metavar="TF[,TF…]",
              help=f"Comma-separated timeframes ({', '.join(TIMEFRAMES)}) or 'all'. Example: --timeframes 1d,1h")
@click.option("--start", "start", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="DATE",
              help="History start for partitions with NO stored bars yet (overrides MARKETDATA_HISTORY_START for "
                   "this backfill's runs). Partitions that already have bars keep fetching incrementally from "
                   "their newest bar. Example: --start 2020-01-01")
@click.option("--no-wait", is_flag=True, help="Launch and print the backfill id without following it (the UI shows it). "
                                     "Example: marketdata backfill --no-wait")
def command(symbols: tuple[str, ...], timeframes: str, start: datetime | None, no_wait: bool) -> int:
    """Backfill market_data partitions through the running Dagster webserver, as the UI does.

    SYMBOLS are registered symbols (`marketdata symbols add`); none = every active symbol. Progress is shown per
    partition; at the end the failed partitions are listed with their runs' errors. Exit 0 when every
    partition was materialized, 1 when any failed, 2 for an unknown symbol or timeframe, 3 when no webserver
    answers at MARKETDATA_WEBSERVER_URL (default http://127.0.0.1:3000).

    \b
    Examples:
      marketdata backfill                          # every active symbol, 1d
      marketdata backfill AAPL MSFT --timeframes 1d,1h
      marketdata backfill AAPL --timeframes all --start 2020-01-01
    """
    wanted_tfs = parse_timeframes(timeframes)
    try:
        wanted_symbols = [validate_symbol(s) for s in symbols]
    except InvalidSymbolError as exc:
        raise CommandError(str(exc)) from None
    history_start = start_date(start) if start else None
    url = Settings.from_env().webserver_url
    try:
        with WebserverAPI(url) as api:
            return _backfill(api, wanted_symbols, wanted_tfs, history_start, no_wait)
    except (WebserverUnavailableError, GraphQLError) as exc:
        raise UnavailableError(str(exc)) from None


def _backfill(api: WebserverAPI, symbols: list[str], timeframes: list[str], history_start: date | None,
              no_wait: bool) -> int:
    dimensions = api.partition_dimensions(ASSET)
    registered = dimensions.get("symbol", [])
    if not symbols:
        symbols = sorted(registered)
        if not symbols:
            raise CommandError("no symbols registered: add some with `marketdata symbols add AAPL MSFT`")
    unknown = [s for s in symbols if s not in registered]
    if unknown:
        raise CommandError(f"unknown symbol {', '.join(unknown)}: not registered (`marketdata symbols add "
                           f"{' '.join(unknown)}` registers it)")
    partitions = [partition_key(s, tf) for s in dict.fromkeys(symbols) for tf in timeframes]
    # Run config of every run of the backfill: Dagster applies it to asset-backfill runs.
    run_config = ({"resources": {"fetch_config": {"config": {"history_start": history_start.isoformat()}}}}
                  if history_start else None)
    launched_ms = int(time.time() * 1000) - 1000  # a second of slack for clock and rounding
    backfill_id = api.launch_backfill(partitions, ASSET, run_config, title=f"marketdata backfill ({len(partitions)})")
    print(f"backfill {backfill_id}: {len(partitions)} partitions of {ASSET} ({api.url}/runs/b/{backfill_id})")
    if no_wait:
        return OK
    return _follow(api, backfill_id, partitions, launched_ms)


def _follow(api: WebserverAPI, backfill_id: str, partitions: list[str], launched_ms: int) -> int:
    """Poll until the backfill ends: a progress bar of the UI's counts, a line per partition as it lands."""
    done: dict[str, str] = {}
    console = stderr()
    with console.status(f"backfill {backfill_id}: starting") as status:
        while True:
            progress = api.backfill_progress(backfill_id)
            run_ids = {r["runId"] for r in progress.runs}
            if run_ids:
                for key, run_id in api.materialized_partitions(partitions, run_ids, launched_ms, ASSET).items():
                    if key not in done:
                        done[key] = run_id
                        console.print(f"[green]materialized[/] {key} (run {run_id[:8]})")
            status.update(
                f"backfill {backfill_id} {progress.status}: {len(done)}/{len(partitions)} materialized, "
                f"{progress.in_progress} in progress, {progress.failed} failed, {len(progress.runs)} runs"
            )
            if progress.done:
                break
            time.sleep(POLL_S)
    failed = [k for k in partitions if k not in done]
    print_table(["partition", "state", "run"],
                [[k, "materialized" if k in done else "failed", done.get(k, "-")[:8]] for k in partitions],
                ["green" if k in done else "red" for k in partitions])
    print(f"backfill {backfill_id} {progress.status}: {len(done)} materialized, {len(failed)} failed")
    if not failed:
        return OK
    print(f"failed partitions: {', '.join(failed)}")
    for run in progress.runs:
        if run["status"] in ("FAILURE", "CANCELED"):
            for message in dict.fromkeys(api.run_failures(run["runId"])):
                print(f"run {run['runId'][:8]} {run['status'].lower()}: {message}")
    return UNHEALTHY


def parse_timeframes(raw: str) -> list[str]:
    names = [t.strip() for t in raw.split(",") if t.strip()]
    if names == ["all"]:
        return list(TIMEFRAMES)
    unknown = [t for t in names if t not in TIMEFRAMES]
    if unknown or not names:
        raise CommandError(f"unknown timeframe {', '.join(unknown) or repr(raw)}: expected a comma-separated "
                           f"list of {', '.join(TIMEFRAMES)} (or 'all')")
    return list(dict.fromkeys(names))


def start_date(start: datetime) -> date:
    # A day of slack, as MARKETDATA_HISTORY_START: the date is read in the market's zone.
    if start.date() > (datetime.now(UTC) + timedelta(days=1)).date():
        raise CommandError(f"--start is in the future ({start.date()}): no bars exist yet from that date")
    return start.date()
