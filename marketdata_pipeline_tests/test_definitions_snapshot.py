"""Every asset, check, job, schedule and sensor of the code location, compared with a committed snapshot, so a
change to a definition (a key, partitions, a policy, a tag, a pool, automation) shows up in review.

After an intended change, regenerate the snapshot and commit it with the change:

    UPDATE_SNAPSHOTS=1 pytest marketdata_pipeline_tests/test_definitions_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from marketdata_pipeline.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> Any:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return {d.name: _partitions(d.partitions_def) for d in partitions_def.partitions_defs}
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return {"dynamic": partitions_def.name}
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return {"static": partitions_def.get_partition_keys()}
    return type(partitions_def).__name__


def _policy(policy: Any) -> Any:
    return None if policy is None else repr(policy)


def describe(definitions: dg.Definitions) -> dict[str, Any]:
    repo = definitions.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "tags": dict(sorted(node.tags.items())),
            "partitions": _partitions(node.partitions_def),
            "backfill_policy": _policy(node.backfill_policy),
            "retry_policy": _policy(node.assets_def.op.retry_policy) if node.assets_def.is_executable else None,
            "freshness_policy": _policy(node.freshness_policy),
            "automation_condition": _policy(node.automation_condition),
            "pool": node.pools and sorted(node.pools),
            "io_manager_key": node.assets_def.get_io_manager_key_for_asset_key(key),
            "resources": sorted(node.assets_def.required_resource_keys),
            "deps": sorted(d.to_user_string() for d in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        spec = graph.get_check_spec(check_key)
        checks[f"{check_key.asset_key.to_user_string()}:{check_key.name}"] = {
            "blocking": spec.blocking,
            "description": spec.description,
        }
    jobs = {
        job.name: {"tags": dict(sorted(job.tags.items())), "executor": job.executor_def.name}
        for job in sorted(repo.get_all_jobs(), key=lambda j: j.name)
        if not job.name.startswith("__")
    }
    schedules = {
        s.name: {
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "job": s.job_name,
            "default_status": s.default_status.value,
        }
        for s in sorted(repo.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {
            "type": s.sensor_type.value,
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default_status": s.default_status.value,
            "resources": sorted(s.required_resource_keys),
        }
        for s in sorted(repo.sensor_defs, key=lambda s: s.name)
    }
    resources = sorted(repo.get_top_level_resources())
    return {"assets": assets, "checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors,
            "resources": resources}


def test_definitions_match_the_snapshot():
    current = json.dumps(describe(defs), indent=2, sort_keys=True, default=str) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with UPDATE_SNAPSHOTS=1 to write {SNAPSHOT}"
    assert current == SNAPSHOT.read_text(), (
        "the definitions changed; if intended, regenerate with UPDATE_SNAPSHOTS=1 and commit the snapshot"
    )
