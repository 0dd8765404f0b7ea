"""The issue's targets (issue 10), each judged on the report's figures: what was measured, the limit, met or not."""

from __future__ import annotations

import operator

from marketdata_pipeline.bench.plans import Plan

FREE_TIER_PER_MINUTE = 5  # Polygon's free plan


def free_tier(backfill: dict) -> dict:
    """The measured backfill's requests at the free plan's rate: the README's arithmetic."""
    requests = backfill["requests"]
    return {
        "backfill_requests": requests,
        "requests_per_minute": FREE_TIER_PER_MINUTE,
        "minutes": round(requests / FREE_TIER_PER_MINUTE, 1),
    }


def _target(name: str, figure: float | None, relation: str, limit: float) -> dict:
    compare = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}[relation]
    return {
        "target": name,
        "figure": figure,
        "relation": relation,
        "limit": limit,
        "met": figure is not None and bool(compare(figure, limit)),
    }


def targets(report: dict, plan: Plan) -> list[dict]:
    backfill, daily = report["backfill"], report["daily_update"]
    found = [
        _target("backfill requests / reference pages", backfill.get("requests_over_reference_pages"), "<=", 0.35),
        _target("backfill wall / reference floor", backfill.get("wall_over_reference_floor"), "<=", 0.5),
        _target("backfill bars differing from the native endpoint's", backfill.get("bars_differing"), "==", 0),
        _target("daily update requests", daily.get("requests"), "<=", plan.backfill_symbols + 2),
        _target("daily update bars differing from the native endpoint's", daily.get("bars_differing"), "==", 0),
    ]
    if "unlimited_speedup_vs_naive" in report:
        found.append(
            _target("no rate limit: speed-up over the naive design", report["unlimited_speedup_vs_naive"], ">=", 5)
        )
    return found
