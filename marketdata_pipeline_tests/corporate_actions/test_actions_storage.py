"""Corporate actions stored exactly as the sandbox serves them: pages, revisions, cancellations."""

from __future__ import annotations

from datetime import date

import pandas as pd

from marketdata_pipeline.defs.corporate_actions.assets import refresh
from marketdata_pipeline.storage.corporate_actions import DIVIDENDS, SPLITS, load_actions
from marketdata_pipeline_tests.corporate_actions.conftest import configure, logged, served

_DIVIDEND_FIELDS = ["ex_dividend_date", "dividend_type", "cash_amount", "currency", "declaration_date",
                    "record_date", "pay_date", "frequency"]


def _as_served(records: list[dict], fields: list[str], id_field="id") -> list[tuple]:
    out = []
    for r in records:
        row = [date.fromisoformat(r[f]) if f.endswith("_date") else r[f] for f in fields]
        out.append((*row, r[id_field]))
    return sorted(out)


def _stored(url: str, kind, fields: list[str], symbol: str) -> list[tuple]:
    frame = load_actions(url, kind, symbol)
    return sorted(tuple(r) for r in frame[[*fields, "vendor_id"]].itertuples(index=False, name=None))


def test_dividends_stored_exactly_as_served_across_pages(clean_db, client, actions_sandbox):
    actions_sandbox.clear_requests()
    result = refresh(client, clean_db, "AAPL", "dividends", limit=7)  # 7 a page: several pages
    pages = [r for r in logged(actions_sandbox) if r["path"] == "/v3/reference/dividends"]
    expected = served(actions_sandbox, "/v3/reference/dividends", ticker="AAPL")
    assert len(expected) > 14 and len(pages) == -(-len(expected) // 7)
    assert result.inserted == len(expected) and result.deleted == result.updated == 0
    assert _stored(clean_db, DIVIDENDS, _DIVIDEND_FIELDS, "AAPL") == _as_served(expected, _DIVIDEND_FIELDS)


def test_splits_stored_exactly_as_served(clean_db, client, actions_sandbox):
    refresh(client, clean_db, "NVDA", "splits")
    expected = served(actions_sandbox, "/v3/reference/splits", ticker="NVDA")
    assert [r["execution_date"] for r in expected] == ["2024-06-10", "2021-07-20"]
    fields = ["execution_date", "split_from", "split_to"]
    assert _stored(clean_db, SPLITS, fields, "NVDA") == _as_served(expected, fields)


def test_refresh_is_idempotent_and_follows_revisions_and_cancellations(clean_db, client, actions_sandbox):
    first = refresh(client, clean_db, "MSFT", "dividends")
    again = refresh(client, clean_db, "MSFT", "dividends")
    assert first.inserted > 0 and (again.inserted, again.updated, again.deleted) == (0, 0, 0)

    listing = served(actions_sandbox, "/v3/reference/dividends", ticker="MSFT")
    cancelled, revised = listing[0], listing[1]
    configure(
        actions_sandbox,
        cancelled_actions=[cancelled["id"]],
        extra_actions=[{"kind": "dividend", **revised, "cash_amount": revised["cash_amount"] + 0.25}],
    )
    changed = refresh(client, clean_db, "MSFT", "dividends")
    assert (changed.inserted, changed.updated, changed.deleted) == (0, 1, 1)
    stored = load_actions(clean_db, DIVIDENDS, "MSFT").set_index("ex_dividend_date")
    assert date.fromisoformat(cancelled["ex_dividend_date"]) not in stored.index
    assert stored.loc[date.fromisoformat(revised["ex_dividend_date"]), "cash_amount"] == revised["cash_amount"] + 0.25
    assert _stored(clean_db, DIVIDENDS, _DIVIDEND_FIELDS, "MSFT") == _as_served(
        served(actions_sandbox, "/v3/reference/dividends", ticker="MSFT"), _DIVIDEND_FIELDS
    )


def test_a_cancelled_split_is_deleted(clean_db, client, actions_sandbox):
    refresh(client, clean_db, "TSLA", "splits")
    listing = served(actions_sandbox, "/v3/reference/splits", ticker="TSLA")
    assert len(load_actions(clean_db, SPLITS, "TSLA")) == len(listing) == 2
    configure(actions_sandbox, cancelled_actions=[listing[0]["id"]])
    assert refresh(client, clean_db, "TSLA", "splits").deleted == 1
    remaining = load_actions(clean_db, SPLITS, "TSLA")
    assert list(remaining["vendor_id"]) == [listing[1]["id"]]


def test_crypto_costs_no_request(clean_db, client, actions_sandbox):
    actions_sandbox.clear_requests()
    assert refresh(client, clean_db, "X:BTCUSD", "splits") is None
    assert refresh(client, clean_db, "X:BTCUSD", "dividends") is None
    assert logged(actions_sandbox) == []
    assert load_actions(clean_db, SPLITS).empty and load_actions(clean_db, DIVIDENDS).empty


def test_a_symbol_without_actions_stores_none(clean_db, client):
    assert refresh(client, clean_db, "COST", "splits").listed == 0
    assert isinstance(load_actions(clean_db, SPLITS, "COST"), pd.DataFrame)
