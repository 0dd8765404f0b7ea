"""Reference data: splits and dividends (the legacy v3 endpoints, still served, cursor-paginated)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from marketdata_pipeline.client.params import filter_params
from marketdata_pipeline.client.transport import Transport

MAX_REFERENCE_LIMIT = 1000

# Column → dtype; "date" columns become naive datetime64 calendar dates.
SPLIT_COLUMNS = {"ticker": "string", "execution_date": "date", "split_from": "float64", "split_to": "float64", "id": "string"}
DIVIDEND_COLUMNS = {
    "ticker": "string",
    "ex_dividend_date": "date",
    "record_date": "date",
    "pay_date": "date",
    "declaration_date": "date",
    "cash_amount": "float64",
    "currency": "string",
    "dividend_type": "string",
    "frequency": "Int64",
    "id": "string",
}


def records_frame(results: Iterable[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """Fixed columns whatever fields a record carries (`id`, `currency` are absent in some responses)."""
    raw = pd.DataFrame.from_records(list(results), columns=list(columns))
    frame = pd.DataFrame(index=raw.index)
    for column, dtype in columns.items():
        if dtype == "date":
            frame[column] = pd.to_datetime(raw[column], format="%Y-%m-%d").astype("datetime64[ns]")
        else:
            frame[column] = raw[column].astype(dtype)  # type: ignore[call-overload]  # names from a table
    return frame


class ReferenceAPI:
    def __init__(self, transport: Transport):
        self._transport = transport

    def splits(self, ticker: str | None = None, **filters: Any) -> pd.DataFrame:
        """Splits, all pages; filters use Python names, e.g. `execution_date_gte=date(2020, 1, 1)`."""
        return self._list("/v3/reference/splits", SPLIT_COLUMNS, ticker, filters)

    def dividends(self, ticker: str | None = None, **filters: Any) -> pd.DataFrame:
        """Dividends, all pages; filters use Python names, e.g. `ex_dividend_date_gte=date(2020, 1, 1)`."""
        return self._list("/v3/reference/dividends", DIVIDEND_COLUMNS, ticker, filters)

    def _list(self, path: str, columns: dict[str, str], ticker: str | None, filters: dict[str, Any]) -> pd.DataFrame:
        params = filter_params({"limit": MAX_REFERENCE_LIMIT, **filters, "ticker": ticker})
        results: list[dict[str, Any]] = []
        for body in self._transport.paginate(path, params):
            results.extend(body.get("results") or [])
        return records_frame(results, columns)
