"""`marketdata plan`: what a run would cost in Polygon requests, planned (derived intraday, grouped daily)
against native (every partition by range), and the least time that takes at the rate limit."""

from __future__ import annotations

from datetime import date, datetime

import click

from marketdata_pipeline.cli.backfill import parse_timeframes, start_date
from marketdata_pipeline.cli.console import print_table
from marketdata_pipeline.cli.errors import OK, CommandError
from marketdata_pipeline.rules.request_plan import (
    DERIVABLE,
    MARKETS,
    PROBE_REQUESTS,
    PartitionNeed,
    RequestPlan,
    duration_text,
    plan_requests,
)
from marketdata_pipeline.rules.windows import fetch_window
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.symbols import InvalidSymbolError, asset_class, validate_symbol
from marketdata_pipeline.timeframes import TIMEFRAMES, timeframe

SYMBOLS_HELP = """\b
Arguments:
  SYMBOLS  tickers (AAPL, BRK.B, X:BTCUSD), case does not matter; they need
           not be registered. None = every active symbol (the default
           universe while none is registered)."""


@click.command("plan", epilog=SYMBOLS_HELP)
@click.argument("symbols", nargs=-1)
@click.option(
    "--timeframes",
    default="all",
    show_default=True,
    metavar="TF[,TF…]",
    help=f"Comma-separated timeframes ({', '.join(TIMEFRAMES)}) or 'all'. Example: --timeframes 1d,5m",
)
@click.option(
    "--daily",
    is_flag=True,
    help="Plan an update of what is stored now (windows from each partition's newest stored bar; reads the "
    "database) instead of a backfill with nothing stored. Example: marketdata plan --daily",
)
@click.option(
    "--start",
    metavar="DATE",
    default=None,
    help="History start of partitions with nothing stored (overrides MARKETDATA_HISTORY_START). "
    "Example: --start 2023-01-02",
)
@click.option(
    "--rate",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Requests per minute the time floor is computed at; default POLYGON_MAX_REQUESTS_PER_MINUTE, else "
    "none. Example: --rate 5 (Polygon's free plan)",
)
@click.option(
    "--derive",
    type=click.Choice(["auto", "off"]),
    default=None,
    help="auto: 15m/1h/4h built from 5m (assuming the conformance probe agrees), off: fetched natively; "
    "default MARKETDATA_DERIVE_INTRADAY (auto). Example: --derive off",
)
def command(
    symbols: tuple[str, ...], timeframes: str, daily: bool, start: str | None, rate: int | None, derive: str | None
) -> int:
    """Requests (by endpoint) and the least time a run would take, against fetching every partition natively.

    Nothing is fetched. A backfill (default) plans every partition from its history start; --daily plans an
    update of what is stored now. Exit 2 for a malformed symbol, timeframe or date.

    \b
    Examples:
      marketdata plan                                  # backfill of the active universe
      marketdata plan AAPL MSFT X:BTCUSD --rate 5 --start 2023-06-01
      marketdata plan --daily --rate 5                 # tonight's update
    """
    settings = Settings.from_env()
    wanted_tfs = parse_timeframes(timeframes)
    try:
        wanted = list(dict.fromkeys(validate_symbol(s) for s in symbols))
    except InvalidSymbolError as exc:
        raise CommandError(str(exc)) from None
    history_start = _start(start) if start else settings.history_start
    rate = rate or settings.max_requests_per_minute
    derive = derive or settings.derive_intraday
    now = settings.clock()

    stored: dict = {}
    if daily or not wanted:
        from marketdata_pipeline.environment import ensure_database
        from marketdata_pipeline.storage.bars import last_bar_times
        from marketdata_pipeline.storage.universe import DEFAULT_UNIVERSE, active_symbols

        url = ensure_database(settings)
        if not wanted:
            wanted = active_symbols(url)
            if not wanted:
                print("no symbols registered: planning the default universe `marketdata run` registers")
                wanted = list(DEFAULT_UNIVERSE)
        if daily:
            stored = last_bar_times(url, [(s, tf) for s in wanted for tf in wanted_tfs])

    needs = []
    for symbol in wanted:
        for tf in wanted_tfs:
            last = stored.get((symbol, tf))
            first, end = fetch_window(symbol, timeframe(tf), last, now, history_start, settings.revision_sessions)
            needs.append(PartitionNeed(symbol, tf, first, end, last is not None))
    markets = [m for m in MARKETS if any(asset_class(s) == m for s in wanted)]
    derived = {m: DERIVABLE for m in markets} if derive == "auto" else {}
    planned = plan_requests(needs, derived, now, rate, probe=markets)
    native = plan_requests(needs, {}, now, rate, grouped=False)

    mode = "daily update" if daily else "backfill"
    print(
        f"plan: {mode} of {len(wanted)} symbols × {len(wanted_tfs)} timeframes ({len(needs)} partitions), "
        f"now {now:%Y-%m-%d %H:%M} UTC, history from {history_start or 'the default start per timeframe'}"
    )
    if derived and any(tf in DERIVABLE for tf in wanted_tfs):
        print(
            f"derivation auto: {', '.join(sorted(DERIVABLE))} built from 5m, assuming the conformance probe "
            f"agrees for {', '.join(markets)} (the probe: {PROBE_REQUESTS} requests per asset class, on first "
            "use and weekly)"
        )
    _print_comparison(planned, native)
    for choice in planned.daily:
        print(
            f"1d {choice.market}: {'grouped daily' if choice.method == 'grouped' else 'range'} "
            f"({len(choice.sessions)} grouped daily sessions or {choice.range_requests} range requests "
            f"for {choice.symbols} symbols with stored bars)"
        )
    if rate is None:
        print("no rate limit: --rate N or POLYGON_MAX_REQUESTS_PER_MINUTE gives the time this takes")
    else:
        print(
            f"at {rate} requests/min this takes {duration_text(planned.floor_seconds or 0)} "
            f"(native: {duration_text(native.floor_seconds or 0)})"
        )
    return OK


def _print_comparison(planned: RequestPlan, native: RequestPlan) -> None:
    rows = [
        ["partitions by range", planned.count("range"), native.count("range")],
        ["partitions derived from 5m", planned.count("derived"), native.count("derived")],
        ["partitions by grouped daily", planned.count("grouped"), native.count("grouped")],
    ]
    added = sum(p.added for p in planned.partitions)
    if added:
        rows.append(["5m fetches added for derivation", added, 0])
    rows += [
        [f"requests: {name}", n, native.requests[name]] for name, n in planned.requests.items() if name != "probe" or n
    ]
    rows.append(["requests: total", planned.total_requests, native.total_requests])
    print_table(["", "planned", "native"], [[str(v) for v in row] for row in rows])


def _start(raw: str) -> date:
    try:
        parsed = datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        raise CommandError(f"--start must be a date such as 2023-01-02, got {raw!r}") from None
    return start_date(parsed)
