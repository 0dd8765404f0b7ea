"""HTTP to Polygon: auth header, budget, retries, circuit breaker, counters, and response classification."""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from marketdata_pipeline.client.breaker import CircuitBreaker
from marketdata_pipeline.client.budget import RequestBudget
from marketdata_pipeline.client.errors import (
    PolygonAuthError,
    PolygonConfigError,
    PolygonError,
    PolygonRequestError,
    PolygonResponseError,
    PolygonUnavailableError,
    TransientError,
)
from marketdata_pipeline.client.redaction import Secret, redact
from marketdata_pipeline.client.stats import ClientStats

log = logging.getLogger("marketdata_pipeline.client")

SUCCESS_STATUSES = frozenset({"OK", "DELAYED"})  # DELAYED: delayed-data plans, incl. free; the data is good


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 10
    max_retry_seconds: float = 300.0  # total time one call may spend retrying
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 10.0  # 5xx, timeouts, connection errors, bad JSON
    rate_limit_cap_s: float = 20.0  # 429 without Retry-After: long enough steps to ride out a per-minute window

    def wait_s(self, failure: TransientError, attempt: int) -> float:
        """Full-jitter exponential backoff, unless the server said how long to wait."""
        if failure.retry_after is not None:
            return failure.retry_after
        cap = self.rate_limit_cap_s if failure.rate_limited else self.backoff_cap_s
        return random.uniform(0, min(cap, self.backoff_base_s * 2**attempt))


def error_text(content: bytes) -> str:
    """The human part of an error body: Polygon's `error` or `message` (either may carry it), or an HTML title."""
    text = content.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("error") or body.get("message")
        if detail:
            return str(detail)
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return title.group(1).strip()
    return " ".join(text.split())[:200] or "(empty body)"


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def parse_response(status: int, headers: Mapping[str, str], content: bytes, what: str) -> dict[str, Any]:
    """Return a successful response's JSON body, or raise the exception its status and body call for."""
    if status == 200:
        try:
            body = json.loads(content)
        except ValueError:
            raise TransientError(f"malformed JSON in the response to {what}", status=status) from None
        if not isinstance(body, dict):
            raise TransientError(f"malformed JSON in the response to {what}", status=status)
        if "status" in body and body["status"] not in SUCCESS_STATUSES:
            raise PolygonResponseError(f"{what} returned status {body['status']!r}: {error_text(content)}")
        return body
    text = error_text(content)
    if status == 429:
        raise TransientError(f"HTTP 429 (rate limited): {text}", status=status, retry_after=retry_after_s(headers))
    if status == 499 or status >= 500:
        raise TransientError(f"HTTP {status}: {text}", status=status)
    if status in (401, 403):
        raise PolygonAuthError(f"invalid or unauthorized Polygon API key (HTTP {status}): {text}", status)
    raise PolygonRequestError(f"Polygon rejected {what} (HTTP {status}): {text}", status)


def nothing_listens(exc: httpx.RequestError) -> str | None:
    """"connection refused" or "host name not found" when that caused `exc`, else None."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"host name not found ({cause.strerror})"
        cause = cause.__cause__ or cause.__context__
    return None


class Deadline:
    """One call's retry window. It starts when the call first sends a request or first meets an open
    circuit, never during a wait for the shared budget: on a 5 requests/minute plan that wait alone can
    last minutes, and the first 429 or 5xx after it must still be retried."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._started: float | None = None

    def start(self) -> None:
        if self._started is None:
            self._started = time.monotonic()

    def elapsed(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started

    def remaining(self) -> float:
        return self.seconds - self.elapsed()


class Transport:
    """Sends GETs to one base URL with one key; every attempt passes the budget and the breaker."""

    def __init__(
        self,
        api_key: Secret,
        base_url: str,
        *,
        budget: RequestBudget,
        breaker: CircuitBreaker,
        retry: RetryPolicy,
        timeout: httpx.Timeout,
        stats: ClientStats,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.breaker = breaker
        self.retry = retry
        self.stats = stats
        self._sleep = sleep
        self._reached = False  # has any response ever come from base_url? Until then, refused means misconfigured.
        # httpx masks the Authorization header in reprs; the key never goes into a URL.
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key.get()}", "User-Agent": "marketdata-pipeline"},
            timeout=timeout,
            transport=http_transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        what = f"GET {path}"
        policy = self.retry
        deadline = Deadline(policy.max_retry_seconds)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            stop=tenacity.stop_after_attempt(policy.max_retries + 1) | _StopAtDeadline(deadline),
            wait=lambda state: policy.wait_s(_failure(state), state.attempt_number),
            before_sleep=lambda state: self._before_retry(what, state),
            sleep=self._sleep,
        )
        try:
            return retrying(self._attempt, path, params, what, deadline)
        except tenacity.RetryError as exc:
            attempt = exc.last_attempt
            raise PolygonUnavailableError(
                redact(
                    f"Polygon API unavailable: {what} failed {attempt.attempt_number} times "
                    f"over {deadline.elapsed():.1f}s; last error: {attempt.exception()}"
                )
            ) from None

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every page, following `next_url` until it is absent.

        Only next_url's path and query are used, against our own base URL with our own header:
        its host may be stale or wrong, and it never carries the key.
        """
        body = self.get(path, params)
        yield body
        followed: set[str] = set()
        while next_url := body.get("next_url"):
            parts = urlsplit(next_url)
            follow = parts.path + (f"?{parts.query}" if parts.query else "")
            if follow in followed:
                raise PolygonResponseError(f"pagination loop: next_url repeats {parts.path}")
            followed.add(follow)
            body = self.get(follow)
            yield body

    def _attempt(self, path: str, params: Mapping[str, Any] | None, what: str, deadline: Deadline) -> dict[str, Any]:
        if self.breaker.is_open:
            deadline.start()  # riding out an outage is part of the retry window
        self.breaker.before_call(max(deadline.remaining(), 0.0))
        api_alive: bool | None = None  # None: no verdict on the API (the budget's database failed, a bad URL)
        try:
            self.stats.add(budget_wait_s=self.budget.acquire())
            deadline.start()
            started = time.monotonic()
            try:
                response = self._http.get(path, params=params)
            except httpx.TimeoutException:
                api_alive = False
                raise TransientError(f"timed out: {what}") from None
            except httpx.RequestError as exc:
                reason = nothing_listens(exc)
                if reason and not self._reached:
                    # Nothing has ever answered at this URL: a configuration error, not an outage to retry.
                    raise PolygonConfigError(
                        redact(f"cannot reach the Polygon API at {self.base_url}: {reason}; check POLYGON_BASE_URL")
                    ) from None
                api_alive = False
                raise TransientError(redact(f"connection error ({type(exc).__name__}: {exc}): {what}")) from None
            finally:
                took = time.monotonic() - started
                self.stats.add(requests=1, http_s=took)
            self._reached = True
            log.debug("%s -> HTTP %d in %.3fs", response.request.url.raw_path.decode(), response.status_code, took)
            try:
                body = parse_response(response.status_code, response.headers, response.content, what)
            except TransientError as exc:
                api_alive = exc.rate_limited  # a 429 is the API working as designed, not an outage
                if exc.rate_limited:
                    self.stats.add(rate_limited=1)
                raise
            except PolygonError:
                api_alive = True  # the API answered; the request was at fault
                raise
            api_alive = True
            self.stats.add(pages=1)
            return body
        finally:
            if api_alive is None:
                self.breaker.record_no_outcome()
            elif api_alive:
                self.breaker.record_success()
            else:
                self.breaker.record_failure()

    def _before_retry(self, what: str, state: tenacity.RetryCallState) -> None:
        failure = _failure(state)
        assert state.next_action is not None  # before_sleep runs once the next sleep is decided
        wait = state.next_action.sleep
        self.stats.add(retries=1)
        if failure.rate_limited:
            # Tell every process sharing the budget, so they slow down together instead of hammering.
            self.budget.penalize(wait)
        log.warning("retrying %s in %.1fs (attempt %d failed: %s)", what, wait, state.attempt_number, failure)


def _failure(state: tenacity.RetryCallState) -> TransientError:
    """The transient error a retry is deciding about (only TransientError is retried)."""
    assert state.outcome is not None
    error = state.outcome.exception()
    assert isinstance(error, TransientError)
    return error


class _StopAtDeadline(tenacity.stop.stop_base):
    """Stop when the next sleep would end past the call's deadline."""

    def __init__(self, deadline: Deadline):
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self.deadline.remaining()
