"""IO manager for bar assets: writes each fetched partition with a bulk upsert, loads partitions back."""

from __future__ import annotations

import time

import dagster as dg
import pandas as pd

from marketdata_pipeline.client.errors import PolygonAuthError, PolygonConfigError, PolygonRequestError
from marketdata_pipeline.market.fetch import BarFetch
from marketdata_pipeline.market.partitions import split_key
from marketdata_pipeline.storage.bars import load_bars, upsert_bars


PERMANENT_ERRORS = (PolygonAuthError, PolygonConfigError, PolygonRequestError)


class PostgresBarsIOManager(dg.ConfigurableIOManager):
    database_url: str

    def handle_output(self, context: dg.OutputContext, obj: BarFetch) -> None:
        before = obj.client.stats.snapshot()
        rows, db_s, empty, failures = 0, 0.0, [], []
        first, last = None, None
        for result in obj:
            req = result.request
            key = f"{req.symbol}|{req.timeframe}"
            if result.error is not None:
                context.log.error(f"{key}: {result.error}")
                failures.append((key, result.error))
                continue
            bars = result.bars
            if bars.empty:
                empty.append(key)
                continue
            started = time.monotonic()
            try:
                rows += upsert_bars(
                    self.database_url, req.symbol, req.timeframe, bars,
                    window=(req.start, req.end), fetch_started=result.started,
                )
            except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
                # Run termination (or Ctrl-C) lands here: say what the user will want to know.
                context.log.error(
                    f"interrupted while writing {key}: its transaction was rolled back, so its previous rows are "
                    "intact; partitions written before it keep their new rows, the rest were not written"
                )
                raise
            db_s += time.monotonic() - started
            first = min(first, bars["time"].iloc[0]) if first is not None else bars["time"].iloc[0]
            last = max(last, bars["time"].iloc[-1]) if last is not None else bars["time"].iloc[-1]
        if empty:
            context.log.warning(f"no bars returned for {', '.join(empty)} (unknown ticker, or nothing new)")
        stats = obj.client.stats.snapshot()
        context.add_output_metadata(
            {
                "partitions": len(obj.requests),
                "rows_written": rows,
                "partitions_without_data": len(empty),
                "first_bar": str(first) if first is not None else "none",
                "last_bar": str(last) if last is not None else "none",
                "requests": stats["requests"] - before["requests"],
                "pages": stats["pages"] - before["pages"],
                "rate_limited_429s": stats["rate_limited"] - before["rate_limited"],
                "retries": stats["retries"] - before["retries"],
                "api_seconds": round(stats["http_s"] - before["http_s"], 3),
                "budget_wait_seconds": round(stats["budget_wait_s"] - before["budget_wait_s"], 3),
                "db_seconds": round(db_s, 3),
            }
        )
        if failures:
            summary = "; ".join(f"{key}: {err}" for key, err in failures[:10])
            # Bad requests and bad keys will not heal by retrying; outages and throttling may.
            retryable = not any(isinstance(err, PERMANENT_ERRORS) for _, err in failures)
            others = len(obj.requests) - len(failures)
            written = f"the other {others} were written" if others else "nothing was written"
            raise dg.Failure(
                description=f"{len(failures)} of {len(obj.requests)} partitions failed ({written}): {summary}",
                allow_retries=retryable,
            )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        frames = []
        for key in sorted(context.asset_partition_keys):
            symbol, timeframe = split_key(key)
            # In(metadata={"adjust": "splits"}) asks for adjusted bars (storage.adjustment).
            adjust = (context.definition_metadata or {}).get("adjust", "none")
            frame = load_bars(self.database_url, symbol, timeframe, adjust)
            frame.insert(0, "timeframe", timeframe)
            frame.insert(0, "symbol", symbol)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
