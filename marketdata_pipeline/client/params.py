"""Query/path values in the forms Polygon accepts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

_SUFFIXES = ("_gte", "_gt", "_lte", "_lt", "_any_of")


def time_param(value: date | datetime) -> str:
    """Dates as YYYY-MM-DD (a whole day); datetimes as Unix ms. Naive datetimes are refused: the official
    client reads them in the machine's local zone, a classic source of shifted bars."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime {value.isoformat()} has no time zone; pass an aware datetime (e.g. UTC)")
        return str(int(value.timestamp() * 1000))
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"expected a date or datetime, got {type(value).__name__}")


def query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return time_param(value) if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return ",".join(query_value(v) for v in value)
    return str(value)


def filter_params(filters: dict[str, Any]) -> dict[str, str]:
    """`execution_date_gte=...` → `execution_date.gte=...` (Python names for Polygon's dotted filters); None dropped."""
    params = {}
    for name, value in filters.items():
        if value is None:
            continue
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                name = f"{name[: -len(suffix)]}.{suffix[1:]}"
                break
        params[name] = query_value(value)
    return params
