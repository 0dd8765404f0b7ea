"""The sandbox's run-time knobs, shared by the in-process server and the admin HTTP surface."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime

from marketdata_pipeline.sandbox.corporate_actions import parse_extra_actions
from marketdata_pipeline.sandbox.revisions import Drop, Edits, Revision, parse_drops, parse_revisions

FAULT_KINDS = ("500", "502", "503", "504", "timeout", "reset", "malformed")


@dataclass
class SandboxConfig:
    now: datetime | None = None  # the sandbox clock (tz-aware UTC); None = wall clock. Data after it does not exist.
    rate_limit_per_minute: int | None = None  # per API key, rolling 60 s window -> 429
    latency_s: float = 0.0  # added to every request
    retry_after: bool = False  # send Retry-After on 429s (real Polygon doesn't)
    bad_keys: frozenset[str] = frozenset({"bad-key"})  # -> 401 Unknown API Key
    fault_rate: float = 0.0  # fraction of data requests that fail
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_seed: int = 0
    delayed: bool = False  # status "DELAYED" instead of "OK"
    timeout_stall_s: float = 30.0  # how long a "timeout" fault stalls before answering
    # Vendor corrections, as JSON: [{"ticker", "start", "end" (ISO instants, [start, end)), "price_factor"}]
    revisions: tuple[Revision, ...] = ()
    drops: tuple[Drop, ...] = ()  # [{"ticker", "start", "end"}]: those minutes no longer exist
    # Corporate-action listings (sandbox.corporate_actions): ids no longer listed; actions added or revised.
    cancelled_actions: tuple[str, ...] = ()
    extra_actions: tuple[dict, ...] = ()
    # Multi-unit intraday buckets start at local midnight + this many minutes (sandbox.aggregate), to test
    # clients against a vendor whose undocumented alignment differs from midnight.
    intraday_anchor_minutes: int = 0

    @property
    def edits(self) -> Edits:
        return Edits(self.revisions, self.drops)

    def now_ms(self) -> int:
        moment = self.now or datetime.now(UTC)
        return int(moment.timestamp() * 1000)

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["now"] = self.now.isoformat() if self.now else None
        out["bad_keys"] = sorted(self.bad_keys)
        out["fault_kinds"] = list(self.fault_kinds)
        out["revisions"] = [r.as_json() for r in self.revisions]
        out["drops"] = [d.as_json() for d in self.drops]
        return out

    def update(self, changes: dict) -> None:
        """Apply JSON-style changes (ISO `now`, lists for the sets); raises ValueError on bad input."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        parsed = {name: _parse(name, value) for name, value in changes.items()}
        for name, value in parsed.items():
            setattr(self, name, value)


def _parse(name: str, value):
    if name == "now":
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("now must carry a UTC offset, e.g. 2024-06-05T16:00:00+00:00")
        return moment.astimezone(UTC)
    if name == "revisions":
        return parse_revisions(value)
    if name == "drops":
        return parse_drops(value)
    if name == "cancelled_actions":
        return tuple(str(v) for v in value or ())
    if name == "extra_actions":
        return parse_extra_actions(value)
    if name == "bad_keys":
        return frozenset(value)
    if name == "fault_kinds":
        kinds = tuple(value)
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad or not kinds:
            raise ValueError(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}, got {kinds}")
        return kinds
    if name == "rate_limit_per_minute":
        return None if value is None else int(value)
    if name in ("latency_s", "fault_rate", "timeout_stall_s"):
        return float(value)
    if name == "fault_seed":
        return int(value)
    if name == "intraday_anchor_minutes":
        minutes = int(value)
        if not 0 <= minutes < 24 * 60:
            raise ValueError(f"intraday_anchor_minutes must be within [0, 1440), got {minutes}")
        return minutes
    if name in ("retry_after", "delayed"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    return value
