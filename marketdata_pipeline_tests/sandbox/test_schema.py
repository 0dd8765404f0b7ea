"""Every endpoint the sandbox serves answers in the shape the official OpenAPI spec (trimmed copy) declares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = json.loads((Path(__file__).with_name("openapi-subset.json")).read_text())
SPEC_URI = "urn:openapi-subset"
REGISTRY = Registry().with_resource(SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012))


def validator_for(template: str) -> Draft202012Validator:
    """The 200 JSON schema of `template`, validated with the whole spec as root so `$ref`s resolve."""
    pointer = "/paths/" + template.replace("~", "~0").replace("/", "~1") + "/get/responses/200/content/application~1json/schema"
    return Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=REGISTRY)


CASES = [
    ("/v2/aggs/ticker/{stocksTicker}/range/{multiplier}/{timespan}/{from}/{to}", "/v2/aggs/ticker/AAPL/range/5/minute/2024-03-04/2024-03-08", {"limit": 1000}),
    ("/v2/aggs/ticker/{stocksTicker}/range/{multiplier}/{timespan}/{from}/{to}", "/v2/aggs/ticker/AAPL/range/1/day/2024-07-04/2024-07-04", {}),
    ("/v2/aggs/ticker/{cryptoTicker}/range/{multiplier}/{timespan}/{from}/{to}", "/v2/aggs/ticker/X:BTCUSD/range/4/hour/2024-03-04/2024-03-08", {}),
    ("/v2/aggs/ticker/{stocksTicker}/prev", "/v2/aggs/ticker/AAPL/prev", {}),
    ("/v2/aggs/ticker/{cryptoTicker}/prev", "/v2/aggs/ticker/X:ETHUSD/prev", {}),
    ("/v2/aggs/grouped/locale/us/market/stocks/{date}", "/v2/aggs/grouped/locale/us/market/stocks/2024-03-05", {}),
    ("/v2/aggs/grouped/locale/us/market/stocks/{date}", "/v2/aggs/grouped/locale/us/market/stocks/2024-07-04", {}),
    ("/v2/aggs/grouped/locale/global/market/crypto/{date}", "/v2/aggs/grouped/locale/global/market/crypto/2024-07-04", {}),
    ("/v3/reference/splits", "/v3/reference/splits", {"limit": 3}),
    ("/v3/reference/dividends", "/v3/reference/dividends", {"ticker": "MSFT", "limit": 3}),
]


@pytest.mark.parametrize("template, path, params", CASES, ids=[c[1] for c in CASES])
def test_response_validates_against_openapi(client, template, path, params):
    response = client.get(path, params=params)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    errors = sorted(validator_for(template).iter_errors(body), key=str)
    assert not errors, [e.message for e in errors]
    assert response.headers["x-request-id"] == body["request_id"] and len(body["request_id"]) == 32


def test_schema_check_can_fail():
    broken = {"ticker": "AAPL", "status": "OK", "adjusted": True, "queryCount": 1, "resultsCount": 1, "request_id": "x", "results": [{"o": 1.0}]}
    assert list(validator_for(CASES[0][0]).iter_errors(broken))
