"""Usage counters (the source of materialization metadata), safe to share across worker threads."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields


@dataclass
class Usage:
    requests: int = 0  # HTTP attempts sent, retries included
    pages: int = 0  # successful responses parsed
    rate_limited: int = 0  # 429 responses
    retries: int = 0
    budget_wait_s: float = 0.0  # blocked on the shared request budget
    http_s: float = 0.0  # inside HTTP calls


class Counters:
    """A locked Usage accumulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._usage, name, getattr(self._usage, name) + delta)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            usage = asdict(self._usage)
        for name in ("budget_wait_s", "http_s"):
            usage[name] = round(usage[name], 3)
        return usage


class ClientStats(Counters):
    """Totals for the client's lifetime, shared by every worker thread; callers diff two snapshots to
    measure one unit of work."""

    def add(self, **deltas: float) -> None:
        unknown = set(deltas) - {f.name for f in fields(Usage)}
        if unknown:
            raise AttributeError(f"unknown counters: {sorted(unknown)}")
        super().add(**deltas)
