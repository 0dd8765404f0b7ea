"""Configuration mistakes are clear errors at start, not network errors later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.settings import ConfigError, Settings


@pytest.mark.parametrize("url", ["127.0.0.1:8765", "api.massive.com", "localhost:8765", "ftp://api.massive.com"])
def test_a_base_url_without_an_http_scheme_is_refused(url):
    with pytest.raises(ConfigError, match="POLYGON_BASE_URL must be an http"):
        Settings.from_env({"POLYGON_BASE_URL": url})


def test_a_base_url_with_a_scheme_is_kept():
    assert Settings.from_env({"POLYGON_BASE_URL": "http://127.0.0.1:8765/"}).polygon_base_url == "http://127.0.0.1:8765"


def test_a_history_start_in_the_future_is_refused():
    future = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    with pytest.raises(ConfigError, match="MARKETDATA_HISTORY_START is in the future"):
        Settings.from_env({"MARKETDATA_HISTORY_START": future})
    today = datetime.now(UTC).date()
    assert Settings.from_env({"MARKETDATA_HISTORY_START": today.isoformat()}).history_start == today


def test_the_revision_window_is_configurable():
    assert Settings.from_env({}).revision_sessions == 2
    assert Settings.from_env({"MARKETDATA_REVISION_SESSIONS": "5"}).revision_sessions == 5
    with pytest.raises(ConfigError, match="MARKETDATA_REVISION_SESSIONS"):
        Settings.from_env({"MARKETDATA_REVISION_SESSIONS": "0"})


def test_the_definitions_refuse_to_start_with_a_bad_base_url(monkeypatch):
    monkeypatch.setenv("POLYGON_BASE_URL", "127.0.0.1:8765")
    with pytest.raises(ConfigError, match="127.0.0.1:8765"):
        resources_from_env()
