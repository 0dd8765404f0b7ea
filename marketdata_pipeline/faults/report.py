"""The fault suite's report: docs/reliability.json as measured, docs/reliability.md for people."""

from __future__ import annotations

import json
from pathlib import Path

COMMAND = "make faults   # = .venv/bin/marketdata faults"

PROVES = {
    "postgres_restart": "A database restart under a writing run loses nothing: the run (or its retry, or one "
                        "re-launch) completes every partition.",
    "run_killed": "A run killed mid-write leaves each partition wholly old or wholly new, its pool slots are "
                  "freed, and the next run completes the data.",
    "api_outage": "Two minutes of 503s: the run finishes or fails with a clear message, and the data is complete "
                  "once the API is back.",
    "rate_limit_storm": "An API limit far below the client's budget costs no failed partition and at most 10 % "
                        "more requests than pages needed.",
    "revised_bars": "Bars revised or deleted by the vendor inside the last two sessions are corrected or "
                    "removed by the next run.",
    "concurrent_runs": "Two runs writing the same partitions at once both succeed (or one fails clearly) and "
                       "the stored bars are exactly the sandbox's.",
    "bad_input": "Malformed, empty, over-long and SQL-laden tickers, a bad key, a dead database and a bad base "
                 "URL each give one clear line and a non-zero exit, and write nothing.",
}


def problems(results: list[dict]) -> list[str]:
    """One line per scenario that did not recover or lost, duplicated or left stale rows."""
    out = []
    for r in results:
        bad = [f"{k}={r[k]}" for k in ("rows_lost", "rows_duplicated", "rows_stale") if r.get(k)]
        if not r["recovered"] or bad:
            out.append(f"{r['scenario']}: {'did not recover' if not r['recovered'] else 'recovered'}"
                       + (f", {', '.join(bad)}" if bad else "") + f" — {r['user_sees']}")
    return out


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return str(value).replace("|", "\\|")


def render_markdown(results: list[dict], meta: dict, command: str = COMMAND) -> str:
    lines = [
        "# Reliability under faults",
        "",
        f"Produced by `{command}` on {meta['generated_at']} ({meta['machine']}, Dagster {meta['dagster']}), "
        f"total {meta['total_s']} s. Raw figures: [reliability.json](reliability.json).",
        "",
        "Every scenario ends by comparing every stored bar with the sandbox's bars: lost = bars the sandbox "
        "serves that are not stored, duplicated = extra rows for one bar, stale = stored bars whose values "
        "differ from the sandbox's or that it no longer serves.",
        "",
        "| scenario | runs | rows expected | rows stored | lost | duplicated | stale | recovered | s to recover "
        "| what the user sees |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append("| " + " | ".join(_cell(r.get(k)) for k in (
            "scenario", "runs", "rows_expected", "rows_stored", "rows_lost", "rows_duplicated", "rows_stale",
            "recovered", "seconds_to_recover", "user_sees")) + " |")
    for r in results:
        if r.get("cases"):
            lines += ["", f"**{r['scenario']}**, case by case:", "", "| case | exit | s | passed | what the user sees |",
                      "|---|---|---|---|---|"]
            lines += [f"| {_cell(c['case'])} | {_cell(c['exit'])} | {c['seconds']} | {_cell(c['passed'])} "
                      f"| {_cell(c['user_sees'])} |" for c in r["cases"]]
    lines += ["", "What each scenario proves:", ""]
    lines += [f"- **{r['scenario']}**: {PROVES.get(r['scenario'], '')}" for r in results]
    return "\n".join(lines) + "\n"


def write_report(results: list[dict], meta: dict, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "reliability.json", directory / "reliability.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(results, meta))
    return json_path, md_path
