"""The running Dagster webserver's GraphQL API, as the UI uses it: launch a partition backfill and follow it.

Shared by `marketdata backfill` (against the user's instance) and the benchmark's `DagsterDev` (against a
`dagster dev` it started), so both drive backfills through exactly the path the UI's "Materialize" takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on PartitionSetNotFoundError { message } ... on InvalidStepError { invalidStepKey }
  ... on InvalidOutputError { stepKey invalidOutputName } ... on UnauthorizedError { message }
  ... on RunConflict { message } ... on ConflictingExecutionParamsError { message }
  ... on PresetNotFoundError { message } ... on NoModeProvidedError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status runs(limit: 1000) { runId status } } } }"""
# The UI's backfill page: per-asset counts of targeted / materialized / failed / in-progress partitions.
BACKFILL_PROGRESS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { status runs(limit: 1000) { runId status }
    assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
      assetKey { path } numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized
      numPartitionsFailed } } } }
  ... on PythonError { message } ... on BackfillNotFoundError { message } } }"""
# Which of `partitions` were materialized after `after` (ms): the per-partition truth of the backfill.
MATERIALIZATIONS = """
query($key: AssetKeyInput!, $partitions: [String!], $after: String) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations(partitions: $partitions, afterTimestampMillis: $after) {
    partition runId timestamp } } } }"""
# The registered partition keys of each dimension (for market_data: every symbol, every timeframe).
PARTITION_DIMENSIONS = """
query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
  __typename ... on AssetNode { partitionKeysByDimension { name partitionKeys } } } }"""
# Why a run failed, in the words of its steps (e.g. "ZZZZ|1d: Polygon has no bars for ZZZZ …").
RUN_FAILURES = """
query($runId: ID!) { logsForRun(runId: $runId, limit: 10000) { ... on EventConnection { events {
  __typename ... on ExecutionStepFailureEvent { stepKey error { message } }
  ... on RunFailureEvent { message } } } } }"""
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class WebserverUnavailableError(RuntimeError):
    """No Dagster webserver answers at the address, or it answered with something other than GraphQL."""


class GraphQLError(RuntimeError):
    """The webserver answered, but the query or the mutation failed."""


@dataclass
class BackfillProgress:
    status: str
    targeted: int = 0
    materialized: int = 0
    failed: int = 0
    in_progress: int = 0
    runs: list[dict[str, str]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


class WebserverAPI:
    """GraphQL over HTTP to the webserver at `url` (e.g. http://127.0.0.1:3000)."""

    def __init__(self, url: str, timeout_s: float = 30):
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WebserverAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}})
        except httpx.HTTPError as exc:
            raise WebserverUnavailableError(
                f"no Dagster webserver at {self.url} ({type(exc).__name__}); start it with `marketdata run` "
                "or set MARKETDATA_WEBSERVER_URL"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or ("data" not in body and "errors" not in body):
            raise WebserverUnavailableError(
                f"{self.url} answered HTTP {response.status_code}, not as a Dagster webserver's GraphQL API"
            )
        if body.get("errors"):
            raise GraphQLError("; ".join(str(e.get("message", e)) for e in body["errors"]))
        return body["data"]

    def partition_dimensions(self, asset: str = "market_data") -> dict[str, list[str]]:
        node = self.execute(PARTITION_DIMENSIONS, {"key": {"path": [asset]}})["assetNodeOrError"]
        if node["__typename"] != "AssetNode":
            raise GraphQLError(f"the webserver's code location has no asset {asset!r}")
        return {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}

    def launch_backfill(self, partitions: list[str], asset: str = "market_data",
                        run_config: dict[str, Any] | None = None, title: str | None = None) -> str:
        params: dict[str, Any] = {"partitionNames": partitions, "assetSelection": [{"path": [asset]}]}
        if run_config:
            params["runConfigData"] = run_config
        if title:
            params["title"] = title
        result = self.execute(LAUNCH_BACKFILL, {"p": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"the backfill was not launched: {result}")
        return str(result["backfillId"])

    def backfill_progress(self, backfill_id: str) -> BackfillProgress:
        backfill = self.execute(BACKFILL_PROGRESS, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["__typename"] != "PartitionBackfill":
            raise GraphQLError(f"backfill {backfill_id}: {backfill.get('message', backfill['__typename'])}")
        progress = BackfillProgress(backfill["status"], runs=backfill["runs"])
        for counts in (backfill.get("assetBackfillData") or {}).get("assetBackfillStatuses", []):
            if "numPartitionsTargeted" in counts:
                progress.targeted += counts["numPartitionsTargeted"]
                progress.materialized += counts["numPartitionsMaterialized"]
                progress.failed += counts["numPartitionsFailed"]
                progress.in_progress += counts["numPartitionsInProgress"]
        return progress

    def materialized_partitions(self, partitions: list[str], run_ids: set[str], after_ms: int,
                                asset: str = "market_data") -> dict[str, str]:
        """partition -> run id, for each of `partitions` materialized by one of `run_ids` after `after_ms`."""
        asset_node = self.execute(
            MATERIALIZATIONS, {"key": {"path": [asset]}, "partitions": partitions, "after": str(after_ms)}
        )["assetOrError"]
        events = (asset_node or {}).get("assetMaterializations") or []
        return {e["partition"]: e["runId"] for e in events if e["runId"] in run_ids and e["partition"]}

    def run_failures(self, run_id: str) -> list[str]:
        """The error messages of a failed run's steps (the run's own failure message if no step failed)."""
        events = (self.execute(RUN_FAILURES, {"runId": run_id})["logsForRun"] or {}).get("events") or []
        steps = [e["error"]["message"].strip() for e in events
                 if e["__typename"] == "ExecutionStepFailureEvent" and e.get("error")]
        return steps or [e["message"] for e in events if e["__typename"] == "RunFailureEvent"]
