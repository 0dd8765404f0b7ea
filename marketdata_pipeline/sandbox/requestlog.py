"""What the sandbox saw: one record per request, in arrival order, never holding the API key."""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import asdict, dataclass

# Status recorded when the connection was dropped mid-body (the "reset" fault): no complete response.
DROPPED = 0


@dataclass(frozen=True)
class RequestRecord:
    at: float  # time.time() on arrival
    method: str
    path: str
    query: str  # with apiKey removed
    status: int  # HTTP status sent; DROPPED for a connection reset mid-body
    key_id: str  # short hash of the API key ("" when none was sent)

    def as_json(self) -> dict:
        return asdict(self)


def key_id(key: str | None) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:10] if key else ""


class RequestLog:
    """Requests complete out of order under concurrency; each takes its arrival ticket when it arrives."""

    def __init__(self):
        self._tickets = itertools.count()
        self._done: dict[int, RequestRecord] = {}
        self._lock = threading.Lock()

    def ticket(self) -> int:
        return next(self._tickets)

    def record(self, ticket: int, record: RequestRecord) -> None:
        with self._lock:
            self._done[ticket] = record

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return [self._done[t] for t in sorted(self._done)]

    def clear(self) -> None:
        with self._lock:
            self._done.clear()
