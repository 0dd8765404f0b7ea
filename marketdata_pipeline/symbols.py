"""Ticker validation: what may become a `symbols` partition key."""

from __future__ import annotations

import re

# US stock tickers (BRK.B, BF.B style class suffixes allowed) and crypto pairs X:BASEQUOTE. The pattern
# is written in the subset of regex syntax Python and PostgreSQL share: the symbols table's CHECK
# constraint enforces the same rule on rows written without this module.
SYMBOL_PATTERN = r"[A-Z][A-Z0-9]{0,5}(\.[A-Z]{1,2})?|X:[A-Z0-9]{2,10}(USD|USDT|USDC|EUR|GBP|BTC|ETH)"
_SYMBOL = re.compile(SYMBOL_PATTERN)


class InvalidSymbolError(ValueError):
    pass


def asset_class(symbol: str) -> str:
    """'crypto' for X: pairs, 'stocks' otherwise."""
    return "crypto" if symbol.startswith("X:") else "stocks"


def is_valid_symbol(symbol: str) -> bool:
    """Whether `symbol` is a canonical ticker, exactly as stored (no stripping, no case folding)."""
    return _SYMBOL.fullmatch(symbol) is not None


def validate_symbol(raw: str) -> str:
    """Return the canonical (upper-case) ticker or raise InvalidSymbolError with a readable reason."""
    symbol = raw.strip().upper()
    if is_valid_symbol(symbol):
        return symbol
    raise InvalidSymbolError(
        f"malformed ticker {raw!r}: expected a US stock ticker such as AAPL or BRK.B, "
        "or a crypto pair such as X:BTCUSD"
    )
