"""The sandbox's ASGI app: Polygon's paths, parameters, JSON shapes and error bodies over synthetic data.

Layers, outermost first: `_Gate` (admin bypass, request log, latency, auth, rate limit, faults), then gzip,
then the routes. Admin routes under /_sandbox/ need no key and are neither rate limited nor logged.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pandas as pd
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from marketdata_pipeline.bars import MAX_PAGE_LIMIT
from marketdata_pipeline.sandbox import aggregate, corporate_actions, synthetic
from marketdata_pipeline.sandbox.calendar import ET, is_crypto, local_date_of, to_ms, zone
from marketdata_pipeline.sandbox.config import SandboxConfig
from marketdata_pipeline.sandbox.faults import FaultPlan, RateLimiter, nginx_page
from marketdata_pipeline.sandbox.requestlog import DROPPED, RequestLog, RequestRecord, key_id

RATE_LIMITED = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue."
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MS = re.compile(r"^\d{1,15}$")


@dataclass
class SandboxState:
    config: SandboxConfig
    log: RequestLog = field(default_factory=RequestLog)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    faults: FaultPlan = field(default_factory=FaultPlan)
    # Tickers asked for through the range endpoint join the grouped-daily universe.
    requested: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, ticker: str) -> None:
        with self._lock:
            self.requested.add(ticker)

    def universe(self, crypto: bool) -> list[str]:
        with self._lock:
            extra = {t for t in self.requested if is_crypto(t) == crypto}
        return sorted(set(synthetic.DEFAULT_CRYPTO if crypto else synthetic.DEFAULT_STOCKS) | extra)


class BadRequest(Exception):
    pass


def create_app(state: SandboxState):
    routes = [
        Route("/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from_}/{to}", _range),
        Route("/v2/aggs/ticker/{ticker}/prev", _prev),
        Route("/v2/aggs/grouped/locale/us/market/stocks/{date}", _grouped(crypto=False)),
        Route("/v2/aggs/grouped/locale/global/market/crypto/{date}", _grouped(crypto=True)),
        Route("/v3/reference/splits", _reference(_SPLITS)),
        Route("/v3/reference/dividends", _reference(_DIVIDENDS)),
        Route("/_sandbox/config", _admin_config, methods=["GET", "POST"]),
        Route("/_sandbox/requests", _admin_requests, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.state.sandbox = state
    # Level 1: at level 9 compressing a 50k-bar page costs more than building it.
    return _Gate(GZipMiddleware(app, minimum_size=1024, compresslevel=1), state)


# --- responses ---------------------------------------------------------------------------------------------


class _Raw(str):
    """Pre-rendered JSON spliced into a response as is (the bar arrays, which can be 50k long)."""


def _json(status: int, payload: dict, headers: dict | None = None) -> Response:
    body = "{" + ",".join(f"{json.dumps(k)}:{v if isinstance(v, _Raw) else json.dumps(v)}" for k, v in payload.items()) + "}"
    out = Response(body, status_code=status, media_type="application/json", headers=headers)
    if "request_id" in payload:
        out.headers["X-Request-Id"] = payload["request_id"]
    return out


def _request_id() -> str:
    return uuid.uuid4().hex


async def _not_found(request: Request, exc: Exception) -> Response:
    return _json(404, {"status": "NOT_FOUND", "request_id": _request_id(), "message": "Not found."})


def _error(status: int, text: str, headers: dict | None = None) -> Response:
    return _json(status, {"status": "ERROR", "request_id": _request_id(), "error": text}, headers)


def _render_bars(frame, tickers: list[str] | None = None) -> _Raw:
    """Bars as a JSON array in Polygon's key order; repr keeps floats exact so clients see the truth."""
    cols = [frame[c].tolist() for c in ("v", "vw", "o", "c", "h", "l", "t_ms", "n")]
    row = '"v":%r,"vw":%r,"o":%r,"c":%r,"h":%r,"l":%r,"t":%d,"n":%d}'
    if tickers is None:
        return _Raw("[" + ",".join(["{" + row % r for r in zip(*cols)]) + "]")
    return _Raw("[" + ",".join([f'{{"T":{json.dumps(t)},' + row % tuple(r) for t, *r in zip(tickers, *cols)]) + "]")


# Building and rendering bars is pure CPU under the GIL: one worker thread does it all, because several
# threads contending for the GIL served concurrent requests about twice as slowly as one thread in turn.
_cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-cpu")


async def _on_cpu_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_cpu, functools.partial(fn, *args))


def _status(state: SandboxState) -> str:
    return "DELAYED" if state.config.delayed else "OK"


def _own_base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _encode_cursor(params: dict) -> str:
    return base64.urlsafe_b64encode(urlencode(params).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        raise BadRequest("Invalid cursor") from None
    return dict(parse_qsl(raw, keep_blank_values=True))


def _query(request: Request) -> dict:
    """Query parameters with the cursor's contents taking precedence (Polygon: cursor wins)."""
    params = {k: v for k, v in request.query_params.items() if k != "apiKey"}
    cursor = params.pop("cursor", None)
    if cursor:
        params.update(_decode_cursor(cursor))
    return params


def _bool(params: dict, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise BadRequest(f"Could not parse the {name} parameter: '{raw}'. Use true or false")
    return raw.lower() == "true"


def _int(params: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Could not parse the {name} parameter: '{raw}'. Use a positive integer") from None
    return min(max(value, lo), hi)


def _choice(params: dict, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = params.get(name, default)
    if value not in allowed:
        raise BadRequest(f"The parameter '{name}' must be one of: {', '.join(allowed)}")
    return value


def _handles_bad_request(handler):
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as exc:
            return _error(400, str(exc))

    return wrapped


def _now_ms(request: Request) -> int:
    return request.app.state.sandbox.config.now_ms()


# --- aggregates --------------------------------------------------------------------------------------------


def _time_param(raw: str, name: str) -> date | int:
    if _DATE.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    elif _MS.match(raw):
        return int(raw)
    raise BadRequest(f"Could not parse the time parameter: '{name}'. Use YYYY-MM-DD or Unix MS Timestamps")


@_handles_bad_request
async def _range(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    path = request.path_params
    ticker, timespan = path["ticker"], path["timespan"]
    try:
        multiplier = int(path["multiplier"])
        assert multiplier >= 1
    except (ValueError, AssertionError):
        raise BadRequest(f"Could not parse the multiplier parameter: '{path['multiplier']}'. Use a positive integer") from None
    if timespan not in aggregate.TIMESPANS:
        raise BadRequest(f"Unsupported timespan '{timespan}'. Use one of: {', '.join(aggregate.TIMESPANS)}")
    start, end = _time_param(path["from_"], "from"), _time_param(path["to"], "to")
    params = _query(request)
    adjusted = _bool(params, "adjusted", True)
    sort = _choice(params, "sort", "asc", ("asc", "desc"))
    limit = _int(params, "limit", 5000, 1, MAX_PAGE_LIMIT)
    start_ms, end_ms = aggregate.window_ms(ticker, start, end)
    if end_ms < start_ms:
        raise BadRequest("The parameter 'to' cannot be a time that occurs before 'from'")

    state.remember(ticker)
    now_ms = state.config.now_ms()
    page = await _on_cpu_thread(
        aggregate.page, ticker, multiplier, timespan, start_ms, end_ms, adjusted, limit, sort == "desc", now_ms,
        state.config.edits, state.config.intraday_anchor_minutes,
    )
    payload = {"ticker": ticker, "queryCount": page.query_count, "resultsCount": len(page.bars), "adjusted": adjusted}
    if len(page.bars):
        payload["results"] = await _on_cpu_thread(_render_bars, page.bars)
    payload.update(status=_status(state), request_id=_request_id(), count=len(page.bars))
    if page.next_bound_ms is not None:
        bounds = f"{page.next_bound_ms}/{path['to']}" if sort == "asc" else f"{path['from_']}/{page.next_bound_ms}"
        cursor = _encode_cursor({"limit": limit, "sort": sort, "adjusted": str(adjusted).lower()})
        path_prefix = f"/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}"
        payload["next_url"] = f"{_own_base(request)}{path_prefix}/{bounds}?cursor={cursor}"
    return _json(200, payload)


def _session_stamp(symbol: str, day: date) -> int:
    """Grouped daily and prev stamp stocks at the 16:00 ET close (as Polygon does); crypto at UTC midnight."""
    if is_crypto(symbol):
        return to_ms(datetime.combine(day, dtime(0), tzinfo=zone(symbol)))
    return to_ms(datetime.combine(day, dtime(16), tzinfo=ET))


def _daily_results(symbols: list[str], day: date, adjusted: bool, now_ms: int, edits) -> list[tuple[str, dict]]:
    found = []
    for symbol in symbols:
        bar = aggregate.daily_bar(symbol, day, adjusted, now_ms, edits)
        if bar is not None:
            found.append((symbol, {**bar, "t_ms": _session_stamp(symbol, day)}))
    return found


def _render_named(found: list[tuple[str, dict]]) -> _Raw:
    frame = pd.DataFrame([bar for _, bar in found])
    return _render_bars(frame, [symbol for symbol, _ in found])


def _grouped(crypto: bool):
    @_handles_bad_request
    async def grouped(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        raw = request.path_params["date"]
        try:
            assert _DATE.match(raw)
            day = date.fromisoformat(raw)
        except (AssertionError, ValueError):
            text = f"The path parameter `date` with value {raw} is invalid, must be of the format YYYY-MM-DD."
            raise BadRequest(text) from None
        adjusted = _bool(_query(request), "adjusted", True)
        found = await _on_cpu_thread(
            _daily_results, state.universe(crypto), day, adjusted, state.config.now_ms(), state.config.edits
        )
        payload: dict[str, Any] = {"queryCount": len(found), "resultsCount": len(found), "adjusted": adjusted}
        if found:
            payload["results"] = _render_named(found)
        payload.update(status=_status(state), request_id=_request_id(), count=len(found))
        return _json(200, payload)

    return grouped


@_handles_bad_request
async def _prev(request: Request) -> Response:
    """The last session complete by the clock (looking back two weeks at most)."""
    state: SandboxState = request.app.state.sandbox
    ticker = request.path_params["ticker"]
    adjusted = _bool(_query(request), "adjusted", True)
    now_ms = state.config.now_ms()
    today = local_date_of(now_ms, zone(ticker))
    found = []
    for back in range(15):
        found = await _on_cpu_thread(
            _daily_results, [ticker], today - timedelta(days=back), adjusted, now_ms, state.config.edits
        )
        if found:
            break
    payload = {"ticker": ticker, "queryCount": len(found), "resultsCount": len(found), "adjusted": adjusted}
    if found:
        payload["results"] = _render_named(found)
    payload.update(status=_status(state), request_id=_request_id(), count=len(found))
    return _json(200, payload)


# --- reference data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    date_field: str  # the default sort key, filterable with .gt/.gte/.lt/.lte
    sortable: tuple[str, ...]
    rows: Callable[[date], list[dict]]  # as of a date


def _known_dividends(as_of: date) -> list[dict]:
    symbols = sorted({*synthetic.DEFAULT_STOCKS})
    return [d.as_json() for s in symbols for d in synthetic.dividends_for(s) if d.declaration_date <= as_of]


_SPLITS = _Table("execution_date", ("execution_date", "ticker"), lambda as_of: [s.as_json() for s in synthetic.all_splits(as_of)])
_DIVIDENDS = _Table(
    "ex_dividend_date",
    ("ex_dividend_date", "ticker", "declaration_date", "pay_date", "record_date", "cash_amount"),
    _known_dividends,
)
_COMPARE = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def _reference(table: _Table):
    @_handles_bad_request
    async def listing(request: Request) -> Response:
        params = _query(request)
        limit = _int(params, "limit", 10, 1, 1000)
        order = _choice(params, "order", "desc", ("asc", "desc"))
        sort = _choice(params, "sort", table.date_field, table.sortable)
        offset = _int(params, "page_marker", 0, 0, 10**9)
        config = request.app.state.sandbox.config
        as_of = local_date_of(_now_ms(request), ET)
        kind = "split" if table.date_field == "execution_date" else "dividend"
        rows = corporate_actions.edited(kind, table.rows(as_of), config.cancelled_actions, config.extra_actions, as_of)
        if "ticker" in params:
            rows = [r for r in rows if r["ticker"] == params["ticker"]]
        for op, compare in _COMPARE.items():
            bound = params.get(f"{table.date_field}.{op}")
            if bound is not None:
                rows = [r for r in rows if compare(r[table.date_field], bound)]
        rows.sort(key=lambda r: (r[sort], r["ticker"], r[table.date_field]), reverse=order == "desc")
        payload = {"results": rows[offset : offset + limit], "status": "OK", "request_id": _request_id()}
        if offset + limit < len(rows):
            remaining = {**params, "limit": limit, "order": order, "sort": sort, "page_marker": offset + limit}
            payload["next_url"] = f"{_own_base(request)}{request.url.path}?cursor={_encode_cursor(remaining)}"
        return _json(200, payload)

    return listing


# --- admin -------------------------------------------------------------------------------------------------


async def _admin_config(request: Request) -> Response:
    config: SandboxConfig = request.app.state.sandbox.config
    if request.method == "POST":
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of config fields")
            config.update(changes)
        except ValueError as exc:
            return _json(400, {"status": "ERROR", "error": str(exc)})
    return _json(200, config.to_json())


async def _admin_requests(request: Request) -> Response:
    log: RequestLog = request.app.state.sandbox.log
    if request.method == "DELETE":
        log.clear()
        return _json(200, {"status": "OK"})
    return _json(200, {"requests": [r.as_json() for r in log.snapshot()]})


# --- the gate: log, latency, auth, rate limit, faults -----------------------------------------------------


def _api_key(scope, query: list[tuple[str, str]]) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    for name, value in query:
        if name == "apiKey" and value:
            return value
    return None


class _Gate:
    def __init__(self, app, state: SandboxState):
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        arrived, ticket = time.time(), self.state.log.ticket()
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        key = _api_key(scope, query)
        sent = {"status": DROPPED}

        async def tracking_send(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, tracking_send, key, sent)
        finally:
            clean_query = urlencode([(k, v) for k, v in query if k != "apiKey"])
            record = RequestRecord(arrived, scope["method"], scope["path"], clean_query, sent["status"], key_id(key))
            self.state.log.record(ticket, record)

    async def _handle(self, scope, receive, send, key, sent):
        config = self.state.config
        if config.latency_s > 0:
            await asyncio.sleep(config.latency_s)
        if key is None:
            await _error(401, "API Key was not provided")(scope, receive, send)
            return
        if key in config.bad_keys:
            await _error(401, "Unknown API Key")(scope, receive, send)
            return
        wait_s = self.state.limiter.admit(key_id(key), config.rate_limit_per_minute)
        if wait_s is not None:
            headers = {"Retry-After": RateLimiter.retry_after_header(wait_s)} if config.retry_after else None
            await _error(429, RATE_LIMITED, headers)(scope, receive, send)
            return
        fault = self.state.faults.next_fault(config.fault_rate, config.fault_kinds, config.fault_seed)
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.isdigit():
            await Response(nginx_page(int(fault)), status_code=int(fault), media_type="text/html")(scope, receive, send)
        elif fault == "timeout":
            await asyncio.sleep(config.timeout_stall_s)
            await self.app(scope, receive, send)
        else:
            await self._broken_body(fault, scope, receive, send, sent)

    async def _broken_body(self, fault, scope, receive, send, sent):
        """Serve the real response cut in half: "malformed" as a complete 200, "reset" by dropping the link."""
        plain_scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"]}
        captured = {"body": b""}

        async def capture(message):
            if message["type"] == "http.response.start":
                captured["start"] = message
            else:
                captured["body"] += message.get("body", b"")

        await self.app(plain_scope, receive, capture)
        body = captured["body"]
        half = body[: max(1, len(body) // 2)]
        if fault == "malformed":
            await Response(half, status_code=200, media_type="application/json")(scope, receive, send)
            return
        # Announce the full length, send half, return: uvicorn then closes the connection mid-body.
        await send(captured["start"])
        await send({"type": "http.response.body", "body": half, "more_body": True})
        sent["status"] = DROPPED
