"""The sensor that evaluates bar_features' automation condition: features follow any materialization of
market_data (a UI backfill, a manual run) with one backfill of the same partitions, not one run each."""

import dagster as dg

features_automation_sensor = dg.AutomationConditionSensorDefinition(
    "bar_features_automation",
    target=dg.AssetSelection.assets("bar_features"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    # Several partitions requested on one tick become one backfill, which BackfillPolicy.single_run runs as one run.
    emit_backfills=True,
)
