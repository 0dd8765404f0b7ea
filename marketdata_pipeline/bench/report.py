"""The benchmark report: JSON as measured, and a short table for people."""

from __future__ import annotations

import json
from pathlib import Path

COMMAND = "make bench   # = .venv/bin/marketdata bench"


def _row(name: str, w: dict) -> str:
    def get(key, fmt="{}"):
        value = w.get(key)
        return "–" if value is None else fmt.format(value)

    return (f"| {name} | {get('wall_s')} | {get('floor_s')} | {get('wall_over_floor')} | {get('requests')} | "
            f"{get('reference_pages')} | {get('rate_limited_429s')} | {get('bars_written')} | {get('bars_per_s')} | "
            f"{get('runs_launched')} | {get('cpu_s')} | {get('peak_rss_mb')} |")


def render_markdown(report: dict, command: str = COMMAND) -> str:
    meta = report["meta"]
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {meta['generated_at']} ({meta['machine']}, Dagster {meta['dagster']}), "
        f"total {meta['total_s']} s. Raw figures: [benchmarks.json](benchmarks.json).",
        "",
        f"Rate-limited workloads: sandbox limit {meta['rate_limit_per_minute']} requests/min, "
        f"{meta['latency_s']} s latency per request, history from {meta['backfill_history_start']}, "
        f"sandbox clock {meta['sandbox_now']}.",
        "",
        "Wall time runs from submission until every market_data partition is materialized (every bar stored); "
        "`runs_finished_s` in the JSON adds the rest of the runs (asset checks, the features that ride along).",
        "",
        "| workload | wall s | floor s | wall/floor | requests | reference pages | 429s | bars written | bars/s "
        "| Dagster runs | CPU s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        _row("backfill (UI-style, via daemon)", report["backfill"]),
        _row("daily update (the schedule's run)", report["daily_update"]),
        _row("naive baseline, rate-limited slice", report["naive_baseline"]["rate_limited"]),
        _row("naive baseline, no limit", report["naive_baseline"]["unlimited"]),
    ]
    for point in report["scale_sweep"]["points"]:
        lines.append(_row(f"scale sweep, {point['symbols']} symbols, no limit (one queued run)", point))
    wp = report["write_path"]
    lines += [
        "",
        f"**Write path** ({wp['rows']:,} rows): our upsert {wp['rows_per_s']:,.0f} rows/s "
        f"(re-write of existing rows {wp['rewrite_rows_per_s']:,.0f}), raw binary COPY "
        f"{wp['raw_copy_rows_per_s']:,.0f} rows/s (ratio {wp['ratio_vs_raw_copy']}), "
        f"pandas `to_sql` {wp['to_sql_rows_per_s']:,.0f} rows/s on {wp['to_sql_rows']:,} rows.",
        *_read_path_lines(report.get("read_path")),
        "",
        f"**Without a rate limit**, on the same slice ({report['scale_sweep']['points'][0]['symbols']} symbols), "
        f"naive wall time ÷ pipeline wall time = {report['unlimited_speedup_vs_naive']}.",
        "",
        "Where the time goes (seconds; API and budget waits are summed over concurrent fetch threads, so they can "
        "exceed wall time; orchestration = wall time during which no step was executing):",
        "",
        "| workload | API s (summed) | budget wait s (summed) | DB s | orchestration s | CPU s, all processes "
        "| of which the sandbox |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, w in [("backfill", report["backfill"]), ("daily update", report["daily_update"]),
                    *[(f"sweep {p['symbols']}", p) for p in report["scale_sweep"]["points"]]]:
        lines.append(f"| {name} | {w['api_s_summed_over_threads']} | {w['budget_wait_s_summed_over_threads']} | "
                     f"{w['db_s']} | {w['orchestration_s']} | {w['cpu_s']} | {w['sandbox_cpu_s']} |")
    lines += _orchestration_lines(report)
    lines += _target_lines(report)
    if "features" in report:
        f = report["features"]
        lines += ["", f"**Features** (bar_features, one Dagster run each): backfill {f['backfill']['bars']:,} bars in "
                  f"{f['backfill']['wall_s']} s ({f['backfill']['rows_written']:,} rows written, peak RSS "
                  f"{f['backfill']['peak_rss_mb']} MB); daily update {f['daily_update']['wall_s']} s "
                  f"({f['daily_update']['rows_written']:,} rows written); naive per-bar loop "
                  f"{f['naive']['naive_compute_s_extrapolated_to_backfill']} s extrapolated "
                  f"({f['naive']['compute_ratio_on_sample']} × the vectorized computation on the same bars)."]
    return "\n".join(lines) + "\n"


def _orchestration_lines(report: dict) -> list[str]:
    lines = ["", "Orchestration, from the instance's event log (seconds after submission; means over the runs):", "",
             "| workload | runs | daemon pickup | queue wait (max) | start-up: launch + step start | step (max) "
             "| step end → run end (checks) | other runs meanwhile |",
             "|---|---|---|---|---|---|---|---|"]
    for name, w in [("backfill", report["backfill"]), ("daily update", report["daily_update"])]:
        o = w.get("orchestration") or {}
        if not o:
            continue
        lines.append(
            f"| {name} | {w['runs_launched']} | {o['daemon_pickup_s']} | {o.get('queue_wait_s_mean')} "
            f"({o.get('queue_wait_s_max')}) | {o.get('startup_s_mean')} (launch {o.get('launch_s_mean')}) "
            f"| {o.get('step_s_mean')} ({o.get('step_s_max')}) | {o.get('teardown_s_mean')} "
            f"({o.get('checks_s_mean')}) | {o['other_runs']} ({o['other_runs_s']} s) |"
        )
    return lines


def _target_lines(report: dict) -> list[str]:
    if "targets" not in report:
        return []
    lines = ["", "Targets (issue 10):", "", "| target | measured | limit | met |", "|---|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['figure']} | {t['relation']} {t['limit']} | {'yes' if t['met'] else 'NO'} |")
    backfill = report["backfill"]
    free = report["free_tier"]
    lines += [
        "",
        f"Every stored bar was compared with the sandbox's native endpoint's: {backfill['bars_differing']} of "
        f"{backfill['bars_compared']:,} differ after the backfill, {report['daily_update']['bars_differing']} of "
        f"{report['daily_update']['bars_compared']:,} after the daily update.",
        "",
        f"**Free tier**: the backfill took {free['backfill_requests']} requests; at "
        f"{free['requests_per_minute']} requests/min that is {free['minutes']} minutes.",
    ]
    return lines


def _read_path_lines(rp: dict | None) -> list[str]:
    if not rp:
        return []
    return ["", f"**Read path**: {rp['rows']:,} bars exported to Parquet in {rp['parquet_s']} s; `load_bars` of "
            f"{rp['load_bars_rows']:,} 5m bars (a year) in {rp['load_bars_s']} s unadjusted, "
            f"{rp['load_bars_splits_s']} s split-adjusted, {rp['load_bars_all_s']} s total return ({rp['repeats']})."]


def write_report(report: dict, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "benchmarks.json", directory / "benchmarks.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, md_path
