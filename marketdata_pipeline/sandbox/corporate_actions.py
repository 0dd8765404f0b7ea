"""Admin-configurable corporate actions: cancel listed actions, add or revise others (reference listings only).

`cancelled_actions` (action ids) disappear from /v3/reference/splits and /dividends; `extra_actions`
({"kind": "split"|"dividend", "ticker", ...the listing's fields}) are listed as well, replacing a built-in
action with the same natural key (a revision). Like built-in ones they are listed once known by the clock:
a split from its execution date, a dividend from its declaration date. They change listings only, never
the served bars (the built-in splits alone shape prices and `adjusted=true`).
"""

from __future__ import annotations

import hashlib
from datetime import date

_REQUIRED = {
    "split": ("ticker", "execution_date", "split_from", "split_to"),
    "dividend": ("ticker", "ex_dividend_date", "cash_amount"),
}
_DIVIDEND_DEFAULTS = {"currency": "USD", "dividend_type": "CD", "frequency": 4}


def parse_extra_actions(value) -> tuple[dict, ...]:
    out = []
    for raw in value or ():
        if not isinstance(raw, dict) or raw.get("kind") not in _REQUIRED:
            raise ValueError(f"extra_actions entries need kind 'split' or 'dividend', got {raw!r}")
        missing = [f for f in _REQUIRED[raw["kind"]] if f not in raw]
        if missing:
            raise ValueError(f"extra {raw['kind']} lacks {', '.join(missing)}: {raw!r}")
        for field in ("execution_date", "ex_dividend_date", "declaration_date", "record_date", "pay_date"):
            if raw.get(field) is not None:
                date.fromisoformat(raw[field])  # ValueError on a bad date
        out.append(dict(raw))
    return tuple(out)


def _listing(action: dict) -> dict:
    row = {k: v for k, v in action.items() if k != "kind"}
    key = row.get("execution_date") or row.get("ex_dividend_date")
    row.setdefault("id", "E" + hashlib.blake2b(f"{action['kind']}|{row['ticker']}|{key}".encode(), digest_size=16).hexdigest())
    if action["kind"] == "dividend":
        row = {**_DIVIDEND_DEFAULTS, **row}
    return row


def _natural_key(kind: str, row: dict) -> tuple:
    if kind == "split":
        return row["ticker"], row["execution_date"]
    return row["ticker"], row["ex_dividend_date"], row.get("dividend_type", "CD")


def _known(kind: str, row: dict, as_of: date) -> bool:
    when = row["execution_date"] if kind == "split" else row.get("declaration_date") or row["ex_dividend_date"]
    return date.fromisoformat(when) <= as_of


def edited(kind: str, rows: list[dict], cancelled, extra, as_of: date) -> list[dict]:
    """The built-in listing `rows` of `kind` with the configured extras (known by `as_of`) and cancellations."""
    extras = [_listing(a) for a in extra if a["kind"] == kind]
    extras = [r for r in extras if _known(kind, r, as_of)]
    replaced = {_natural_key(kind, r) for r in extras}
    out = [r for r in rows if _natural_key(kind, r) not in replaced] + extras
    return [r for r in out if r["id"] not in set(cancelled)]
