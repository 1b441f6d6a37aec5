"""Settings come from the environment, with clear errors for unusable values."""

from __future__ import annotations

import pytest

from services.runtime.settings import ENV_VARS, Settings, SettingsError, broker_urls


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert (settings.http_port, settings.press_ttl_ms, settings.barge_in) == (8000, 5000, False)
    assert settings.edge_id  # unique per process when not given


def test_every_variable_is_read() -> None:
    env = {
        "AMQP_URL": "amqp://u:p@broker:5672/vh",
        "AMQP_CA_FILE": "/ca.pem",  # amqps:// nodes only (test_broker_access.py)
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
        "DTMF_SPOOL_DIR": "/spool",
        "DTMF_EDGE_MAX_CALLS": "5",
        "DTMF_EDGE_IDLE_PROCESSES": "1",
        "DTMF_TRANSFER_ALLOW": "+1800, sip:*@pbx.example.com",
        "DTMF_KEY_SOURCES": "Both",
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
    assert str(s.spool_dir) == "/spool"
    assert s.transfer_allow.permit("+1 800 555 0100") == "+18005550100"
    assert s.key_sources == "both"


def test_key_sources_default_to_the_gateway_and_refuse_unknown_values() -> None:
    assert Settings.from_env({}).key_sources == "gateway"
    with pytest.raises(SettingsError, match="DTMF_KEY_SOURCES"):
        Settings.from_env({"DTMF_KEY_SOURCES": "tones"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DTMF_PREFETCH", "lots", "is not an integer"),
        ("DTMF_PREFETCH", "0", "must be at least 1"),
        ("DTMF_REPLY_TIMEOUT_S", "-2", "must be positive"),
        ("DTMF_BARGE_IN", "maybe", "is not a boolean"),
        ("DTMF_MAX_UNANSWERED", "-1", "must be at least 0"),
        ("DTMF_TRANSFER_ALLOW", "+1800,1900", "entry 2 of 2 .*'1900'"),
    ],
)
def test_unusable_values_are_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}.*{message}"):
        Settings.from_env({name: value})


def test_edge_pod_calls_and_idle_processes() -> None:
    defaults = Settings.from_env({})
    assert (defaults.edge_max_calls, defaults.edge_idle_processes) == (50, 2)
    s = Settings.from_env({"DTMF_EDGE_MAX_CALLS": "5", "DTMF_EDGE_IDLE_PROCESSES": "0"})
    assert (s.edge_max_calls, s.edge_idle_processes) == (5, 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DTMF_EDGE_MAX_CALLS", "0", "must be at least 1"),
        ("DTMF_EDGE_MAX_CALLS", "many", "is not an integer"),
        ("DTMF_EDGE_IDLE_PROCESSES", "-1", "must be at least 0"),
    ],
)
def test_unusable_edge_pod_sizes_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}.*{message}"):
        Settings.from_env({name: value})


def test_amqp_url_takes_several_nodes_in_order() -> None:
    raw = " amqp://u:p@rabbit-0:5672/vh , amqps://u:p@rabbit-1/vh,amqp://u:p@10.0.0.7:5673/vh"
    nodes = (
        "amqp://u:p@rabbit-0:5672/vh",
        "amqps://u:p@rabbit-1/vh",
        "amqp://u:p@10.0.0.7:5673/vh",
    )
    assert broker_urls(raw) == nodes
    assert Settings.from_env({"AMQP_URL": raw}).amqp_url == ",".join(nodes)


def test_one_amqp_url_is_kept_as_it_is() -> None:
    url = "amqp://u:p%2Cq@broker:5672/vh?heartbeat=30"  # a comma in a password is %2C
    assert broker_urls(url) == (url,)
    assert Settings.from_env({"AMQP_URL": url}).amqp_url == url


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("amqp://u:secret@a/,,amqp://u:secret@b/", "AMQP_URL entry 2 of 3 is empty"),
        ("amqp://u:secret@a/,", "AMQP_URL entry 2 of 2 is empty"),
        ("amqp://u:secret@a/,http://u:secret@b/", "AMQP_URL entry 2 of 2 is not an amqp"),
        ("amqp://u:secret@a:56x2/", "AMQP_URL is not an amqp:// or amqps:// URL"),
        ("amqp:///vh", "AMQP_URL is not an amqp:// or amqps:// URL with a host"),
        ("rabbit-0:5672", "AMQP_URL is not an amqp"),
    ],
)
def test_unusable_broker_urls_are_refused_without_showing_passwords(raw: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        Settings.from_env({"AMQP_URL": raw})
    assert "secret" not in str(refused.value)
