"""Settings come from the environment, with clear errors for unusable values."""

from __future__ import annotations

import pytest

from services.runtime.settings import ENV_VARS, Settings, SettingsError


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert (settings.http_port, settings.press_ttl_ms, settings.barge_in) == (8000, 5000, False)
    assert settings.edge_id  # unique per process when not given


def test_every_variable_is_read() -> None:
    env = {
        "AMQP_URL": "amqp://u:p@broker:5672/vh",
        "DTMF_PREFETCH": "8",
        "DTMF_DELIVERY_LIMIT": "3",
        "DTMF_PRESS_TTL_MS": "2500",
        "DTMF_MAX_BODY_BYTES": "4096",
        "DTMF_SHUTDOWN_TIMEOUT_S": "7.5",
        "DTMF_REPLY_TIMEOUT_S": "2",
        "DTMF_EDGE_ID": "edge-7",
        "DTMF_CALLLOG_PATH": "/data/log.jsonl",
        "DTMF_LOG_LEVEL": "debug",
        "DTMF_HTTP_HOST": "127.0.0.1",
        "DTMF_HTTP_PORT": "-1",
        "DTMF_PUBLISH_BUFFER": "50",
        "DTMF_PUBLISH_TIMEOUT_S": "1.5",
        "DTMF_BARGE_IN": "yes",
        "DTMF_MAX_UNANSWERED": "250",
    }
    assert set(env) == set(ENV_VARS)
    s = Settings.from_env(env)
    assert (s.amqp_url, s.prefetch, s.delivery_limit, s.press_ttl_ms) == (
        "amqp://u:p@broker:5672/vh",
        8,
        3,
        2500,
    )
    assert (s.max_body_bytes, s.shutdown_timeout_s, s.reply_timeout_s, s.edge_id) == (
        4096,
        7.5,
        2.0,
        "edge-7",
    )
    assert (str(s.calllog_path), s.log_level, s.http_host, s.http_port) == (
        "/data/log.jsonl",
        "DEBUG",
        "127.0.0.1",
        -1,
    )
    assert (s.publish_buffer, s.publish_timeout_s, s.barge_in, s.max_unanswered) == (
        50,
        1.5,
        True,
        250,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DTMF_PREFETCH", "lots", "is not an integer"),
        ("DTMF_PREFETCH", "0", "must be at least 1"),
        ("DTMF_REPLY_TIMEOUT_S", "-2", "must be positive"),
        ("DTMF_BARGE_IN", "maybe", "is not a boolean"),
        ("DTMF_MAX_UNANSWERED", "-1", "must be at least 0"),
    ],
)
def test_unusable_values_are_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}.*{message}"):
        Settings.from_env({name: value})
