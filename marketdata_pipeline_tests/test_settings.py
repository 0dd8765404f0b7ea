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


def test_intraday_derivation_is_auto_or_off():
    assert Settings.from_env({}).derive_intraday == "auto"
    assert Settings.from_env({"MARKETDATA_DERIVE_INTRADAY": " OFF "}).derive_intraday == "off"
    with pytest.raises(ConfigError, match="MARKETDATA_DERIVE_INTRADAY must be auto or off, got 'sometimes'"):
        Settings.from_env({"MARKETDATA_DERIVE_INTRADAY": "sometimes"})


def test_the_definitions_refuse_to_start_with_a_bad_base_url(monkeypatch):
    monkeypatch.setenv("POLYGON_BASE_URL", "127.0.0.1:8765")
    with pytest.raises(ConfigError, match="127.0.0.1:8765"):
        resources_from_env()


def test_a_dot_env_file_is_honoured_and_wins_over_the_shell_as_in_dagster(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("MASSIVE_API_KEY=from-dot-env-0123\nMARKETDATA_REVISION_SESSIONS=4\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.setenv("MARKETDATA_REVISION_SESSIONS", "3")
    settings = Settings.from_env()
    assert settings.polygon_api_key == "from-dot-env-0123" and settings.api_key_var == "MASSIVE_API_KEY"
    assert settings.revision_sessions == 4  # Dagster's loader lets ./.env override the shell too


def test_secrets_stay_out_of_the_settings_repr():
    settings = Settings.from_env({"POLYGON_API_KEY": "pk_secret_0123456789", "DATABASE_URL": "postgresql://u:pw@h/db"})
    assert "pk_secret_0123456789" not in repr(settings) and "pw@" not in repr(settings)
