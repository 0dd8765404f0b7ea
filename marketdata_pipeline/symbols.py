"""Ticker validation: what may become a `symbols` partition key."""

from __future__ import annotations

import re

# US stock tickers (BRK.B, BF.B style class suffixes allowed) and crypto pairs X:BASEQUOTE.
_STOCK = re.compile(r"^[A-Z][A-Z0-9]{0,5}(\.[A-Z]{1,2})?$")
_CRYPTO = re.compile(r"^X:[A-Z0-9]{2,10}(USD|USDT|USDC|EUR|GBP|BTC|ETH)$")


class InvalidSymbolError(ValueError):
    pass


def asset_class(symbol: str) -> str:
    """'crypto' for X: pairs, 'stocks' otherwise."""
    return "crypto" if symbol.startswith("X:") else "stocks"


def validate_symbol(raw: str) -> str:
    """Return the canonical (upper-case) ticker or raise InvalidSymbolError with a readable reason."""
    symbol = raw.strip().upper()
    if _STOCK.match(symbol) or _CRYPTO.match(symbol):
        return symbol
    raise InvalidSymbolError(
        f"malformed ticker {raw!r}: expected a US stock ticker such as AAPL or BRK.B, "
        "or a crypto pair such as X:BTCUSD"
    )
