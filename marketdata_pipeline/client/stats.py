"""Usage counters (the source of materialization metadata), safe to share across worker threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
    """Totals for the client's lifetime, plus `measure()` scopes for one unit of work.

    A scope is bound to the calling thread's context, so with several workers sharing one client
    each scope counts only its own requests, not its neighbours'.
    """

    def __init__(self) -> None:
        super().__init__()
        self._scopes: ContextVar[tuple[Counters, ...]] = ContextVar(f"polygon-stats-{id(self)}", default=())

    def add(self, **deltas: float) -> None:
        unknown = set(deltas) - {f.name for f in fields(Usage)}
        if unknown:
            raise AttributeError(f"unknown counters: {sorted(unknown)}")
        super().add(**deltas)
        for scope in self._scopes.get():
            scope.add(**deltas)

    @contextmanager
    def measure(self) -> Iterator[Counters]:
        scope = Counters()
        token = self._scopes.set((*self._scopes.get(), scope))
        try:
            yield scope
        finally:
            self._scopes.reset(token)
