"""The run-failure sensor pages through the alert channels, without the credentials a step error may carry."""

import dagster as dg

from marketdata_pipeline.definitions import defs
from marketdata_pipeline.defs.health.run_failures import market_data_run_failure_alerts
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline_tests.defs.health.test_alerts import Receiver

API_KEY = "pk_live_0123456789SECRETKEY"


@dg.op
def fetch_with_a_rejected_key():
    # What a careless component might raise: the key inside the error text.
    raise RuntimeError(f"401 Unauthorized for key {API_KEY}")


@dg.job(tags={"dagster/partition": "AAPL|1d"})
def failing_job():
    fetch_with_a_rejected_key()


def test_a_failed_run_is_announced_once_with_its_error_but_no_secret(monkeypatch):
    receiver = Receiver()
    hook = f"{receiver.base_url}/hook/SECRETWEBHOOKTOKEN"
    monkeypatch.setenv("MARKETDATA_ALERT_WEBHOOK_URL", hook)
    monkeypatch.setenv("POLYGON_API_KEY", API_KEY)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    try:
        with dg.instance_for_test() as instance:
            result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
            assert not result.success
            failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
            context = dg.build_run_status_sensor_context(
                sensor_name=market_data_run_failure_alerts.name,
                dagster_event=failure,
                dagster_instance=instance,
                dagster_run=result.dagster_run,
                resources={"alerts": resources_from_env()["alerts"]},
            )
            with context:
                market_data_run_failure_alerts(context.for_run_failure())
    finally:
        receiver.close()

    [post] = receiver.posts
    assert post["event"] == "run_failed" and post["job"] == "failing_job"
    assert post["run_id"] == result.run_id and post["partitions"] == {"partition": "AAPL|1d"}
    assert "fetch_with_a_rejected_key: RuntimeError: 401 Unauthorized for key ***" in post["error"]
    assert API_KEY not in str(post) and "SECRETWEBHOOKTOKEN" not in str(post)


def test_the_sensor_watches_this_code_location_and_starts_running():
    sensor = defs.get_repository_def().get_sensor_def("market_data_run_failure_alerts")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
