"""Auth, rate limiting, fault injection, the request log and the admin surface."""

from __future__ import annotations

import json

import httpx
import pytest

from marketdata_pipeline.sandbox.faults import FaultPlan, RateLimiter
from marketdata_pipeline.sandbox.requestlog import DROPPED, key_id

DAILY = "/v2/aggs/ticker/AAPL/range/1/day/2024-03-04/2024-03-08"
RATE_LIMITED = "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue."


def test_missing_and_unknown_keys_get_401(sandbox):
    missing = httpx.get(sandbox.base_url + DAILY)
    assert missing.status_code == 401
    assert missing.json()["error"] == "API Key was not provided" and missing.json()["status"] == "ERROR"
    bad = httpx.get(sandbox.base_url + DAILY, headers={"Authorization": "Bearer bad-key"})
    assert bad.status_code == 401 and bad.json()["error"] == "Unknown API Key"


def test_api_key_query_param_is_accepted_and_never_recorded(sandbox):
    response = httpx.get(sandbox.base_url + DAILY, params={"apiKey": "secret-key-123", "adjusted": "false"})
    assert response.status_code == 200
    (record,) = sandbox.requests
    assert record.query == "adjusted=false" and record.status == 200
    assert record.key_id == key_id("secret-key-123") and "secret" not in repr(record)
    assert "secret" not in httpx.get(sandbox.base_url + "/_sandbox/requests").text


def test_rate_limit_returns_polygon_429_and_optional_retry_after(sandbox):
    sandbox.config.rate_limit_per_minute = 3
    headers = {"Authorization": "Bearer rate-limited-key"}
    statuses = [httpx.get(sandbox.base_url + DAILY, headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = httpx.get(sandbox.base_url + DAILY, headers=headers)
    assert limited.status_code == 429 and limited.json()["error"] == RATE_LIMITED
    assert "retry-after" not in limited.headers
    sandbox.config.retry_after = True
    limited = httpx.get(sandbox.base_url + DAILY, headers=headers)
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    other_key = httpx.get(sandbox.base_url + DAILY, headers={"Authorization": "Bearer another-key"})
    assert other_key.status_code == 200  # the window is per key
    assert [r.status for r in sandbox.requests] == [200, 200, 200, 429, 429, 200]


def test_rate_limiter_refusals_do_not_take_slots():
    clock = [1000.0]
    limiter = RateLimiter(clock=lambda: clock[0])
    assert [limiter.admit("k", 2) for _ in range(2)] == [None, None]
    assert limiter.admit("k", 2) == pytest.approx(60.0)
    clock[0] += 30
    assert limiter.admit("k", 2) == pytest.approx(30.0)  # refused again, still counted from the first hit
    clock[0] += 30
    assert [limiter.admit("k", 2) for _ in range(2)] == [None, None]  # both slots free: refusals took none
    assert limiter.admit("k", None) is None


def test_fault_plan_is_deterministic_per_seed():
    kinds = ("500", "timeout", "reset")

    def run(seed):
        plan = FaultPlan()
        return [plan.next_fault(0.5, kinds, seed) for _ in range(200)]

    first = run(7)
    assert first == run(7) and first != run(8)
    assert 60 < sum(f is not None for f in first) < 140 and set(first) == {None, *kinds}


@pytest.mark.parametrize("status, title", [("500", "500 Internal Server Error"), ("502", "502 Bad Gateway"), ("503", "503 Service Temporarily Unavailable"), ("504", "504 Gateway Time-out")])
def test_5xx_faults_are_nginx_html(client, sandbox, status, title):
    sandbox.config.fault_rate, sandbox.config.fault_kinds = 1.0, (status,)
    response = client.get(DAILY)
    assert response.status_code == int(status)
    assert response.headers["content-type"].startswith("text/html") and f"<title>{title}</title>" in response.text


def test_timeout_fault_stalls(client, sandbox):
    sandbox.config.fault_rate, sandbox.config.fault_kinds, sandbox.config.timeout_stall_s = 1.0, ("timeout",), 2.0
    with pytest.raises(httpx.ReadTimeout):
        client.get(DAILY, timeout=0.3)


def test_reset_fault_drops_the_connection_mid_body(client, sandbox):
    sandbox.config.fault_rate, sandbox.config.fault_kinds = 1.0, ("reset",)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(DAILY)
    assert sandbox.requests[-1].status == DROPPED


def test_malformed_fault_is_a_truncated_200(client, sandbox):
    sandbox.config.fault_rate, sandbox.config.fault_kinds = 1.0, ("malformed",)
    response = client.get(DAILY)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_faults_spare_auth_errors_and_admin(sandbox):
    sandbox.config.fault_rate = 1.0
    assert httpx.get(sandbox.base_url + DAILY).status_code == 401
    assert httpx.get(sandbox.base_url + "/_sandbox/config").status_code == 200


def test_unknown_paths_are_polygon_404s(client):
    response = client.get("/v2/no/such/endpoint")
    assert response.status_code == 404 and response.json()["status"] == "NOT_FOUND"


def test_admin_surface_steers_the_server(sandbox):
    admin = sandbox.base_url + "/_sandbox"
    updated = httpx.post(admin + "/config", json={"now": "2024-06-05T16:00:00+00:00", "rate_limit_per_minute": 7, "bad_keys": ["x"]})
    assert updated.status_code == 200 and updated.json()["rate_limit_per_minute"] == 7
    assert sandbox.config.now.isoformat() == "2024-06-05T16:00:00+00:00" and sandbox.config.bad_keys == frozenset({"x"})
    assert httpx.post(admin + "/config", json={"no_such_field": 1}).status_code == 400
    assert httpx.post(admin + "/config", json={"now": "2024-06-05T16:00:00"}).status_code == 400  # naive
    httpx.get(sandbox.base_url + DAILY, headers={"Authorization": "Bearer k"})
    log = httpx.get(admin + "/requests").json()["requests"]
    assert [(r["path"], r["status"]) for r in log] == [(DAILY, 200)]  # admin calls are not logged
    httpx.delete(admin + "/requests")
    assert sandbox.requests == []
