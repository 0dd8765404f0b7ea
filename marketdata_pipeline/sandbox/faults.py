"""A bad day on demand: per-key rate limiting and deterministic fault injection."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque

WINDOW_S = 60.0

_NGINX_TITLES = {
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def nginx_page(status: int) -> bytes:
    """The HTML body Polygon's gateway sends with a 5xx (see polygon_fixtures/errors/504_html_gateway.json)."""
    title = _NGINX_TITLES[status]
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx/1.19.2</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


class RateLimiter:
    """Rolling 60 s window per key. Only admitted requests take a slot, so a client that waits can recover."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key_id: str, limit: int | None) -> float | None:
        """None if admitted, else the seconds until the oldest slot in the window frees."""
        if limit is None:
            return None
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key_id, deque())
            while hits and hits[0] <= now - WINDOW_S:
                hits.popleft()
            if len(hits) >= limit:
                return max(hits[0] + WINDOW_S - now, 0.0)
            hits.append(now)
            return None

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))


class FaultPlan:
    """Which data request fails and how: a pure function of (fault_seed, the request's ordinal)."""

    def __init__(self):
        self._counter = 0
        self._lock = threading.Lock()

    def next_fault(self, rate: float, kinds: tuple[str, ...], seed: int) -> str | None:
        with self._lock:
            ordinal = self._counter
            self._counter += 1
        if rate <= 0:
            return None
        rng = random.Random(f"{seed}:{ordinal}")
        if rng.random() >= rate:
            return None
        return kinds[rng.randrange(len(kinds))]
