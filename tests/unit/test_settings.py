"""Settings come from the environment, with clear errors for unusable values; each role
(every process, the edge, the call log) reads its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import pytest

from contracts import Action, KeyPress
from services.calllog.settings import CALLLOG_ENV_VARS, CallLogSettings
from services.edge.settings import EDGE_ENV_VARS, EdgeSettings
from services.runtime import main as runtime_main
from services.runtime.main import load_builder, settings_type
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import ENV_VARS, Settings, SettingsError, broker_urls


def names(role: type[Settings]) -> set[str]:
    return {f.name for f in fields(role)}


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    edge = EdgeSettings.from_env({})
    assert (settings.http_port, settings.press_ttl_ms, edge.barge_in) == (8000, 5000, False)
    assert edge.edge_id  # unique per process when not given
    assert EdgeSettings.from_env({}).edge_id != edge.edge_id
    assert str(CallLogSettings.from_env({}).calllog_path) == "var/calllog.jsonl"


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
    assert set(env) == set(EDGE_ENV_VARS) | set(CALLLOG_ENV_VARS)
    s = EdgeSettings.from_env(env)
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
    assert (
        str(CallLogSettings.from_env(env).calllog_path),
        s.log_level,
        s.http_host,
        s.http_port,
    ) == (
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
    # Every role reads the common variables alike.
    common = {f: getattr(Settings.from_env(env), f) for f in names(Settings)}
    for role in (EdgeSettings, CallLogSettings):
        assert {f: getattr(role.from_env(env), f) for f in common} == common


def test_each_role_lists_the_common_variables_and_its_own() -> None:
    edge_only = set(EDGE_ENV_VARS) - set(ENV_VARS)
    assert "DTMF_EDGE_ID" in edge_only and "DTMF_SPOOL_DIR" in edge_only
    assert set(CALLLOG_ENV_VARS) - set(ENV_VARS) == {"DTMF_CALLLOG_PATH"}
    assert not (edge_only | {"DTMF_CALLLOG_PATH"}) & set(ENV_VARS)
    assert set(ENV_VARS) <= set(EDGE_ENV_VARS) and set(ENV_VARS) <= set(CALLLOG_ENV_VARS)
    assert (Settings.env_vars, EdgeSettings.env_vars) == (ENV_VARS, EDGE_ENV_VARS)
    assert CallLogSettings.env_vars == CALLLOG_ENV_VARS
    # from_env sets every field of each role's settings.
    for role in (Settings, EdgeSettings, CallLogSettings):
        assert set(role.env_fields({})) == names(role)


def test_key_sources_default_to_the_gateway_and_refuse_unknown_values() -> None:
    assert EdgeSettings.from_env({}).key_sources == "gateway"
    with pytest.raises(SettingsError, match="DTMF_KEY_SOURCES"):
        EdgeSettings.from_env({"DTMF_KEY_SOURCES": "tones"})


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
        EdgeSettings.from_env({name: value})


def test_edge_pod_calls_and_idle_processes() -> None:
    defaults = EdgeSettings.from_env({})
    assert (defaults.edge_max_calls, defaults.edge_idle_processes) == (50, 2)
    s = EdgeSettings.from_env({"DTMF_EDGE_MAX_CALLS": "5", "DTMF_EDGE_IDLE_PROCESSES": "0"})
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
        EdgeSettings.from_env({name: value})


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


# --------------------------------------------------- the settings a service's build asks for


@dataclass(frozen=True, kw_only=True)
class GreetingSettings(Settings):
    """A user's service with a setting of its own."""

    env_vars: ClassVar[tuple[str, ...]] = (*ENV_VARS, "GREETING")
    greeting: str = "Hello"

    @classmethod
    def env_fields(cls, env: Mapping[str, str]) -> dict[str, Any]:
        return {**super().env_fields(env), "greeting": env.get("GREETING") or "Hello"}


def greeting_service(settings: GreetingSettings) -> ConsumerService:
    async def handle(press: KeyPress) -> list[Action]:
        return []

    return ConsumerService(name=settings.greeting.lower(), bindings=keys("5"), handler=handle)


def unannotated_service(settings):  # type: ignore[no-untyped-def]
    return greeting_service(GreetingSettings())


def test_a_build_gets_the_settings_type_it_annotates() -> None:
    build = load_builder(f"{__name__}:greeting_service")
    assert settings_type(build) is GreetingSettings
    settings = settings_type(build).from_env({"GREETING": "Hi", "DTMF_PREFETCH": "3"})
    assert isinstance(settings, GreetingSettings)
    assert (settings.greeting, settings.prefetch) == ("Hi", 3)
    assert settings_type(load_builder("calllog")) is CallLogSettings
    assert settings_type(load_builder("sales")) is Settings


def test_an_unannotated_build_gets_the_common_settings() -> None:
    assert settings_type(load_builder(f"{__name__}:unannotated_service")) is Settings
    assert settings_type(lambda: greeting_service(GreetingSettings())) is Settings


def test_main_reads_the_settings_the_build_asks_for(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[ConsumerService, Settings]] = []

    async def serve(service: ConsumerService, settings: Settings, stop: object) -> None:
        served.append((service, settings))

    monkeypatch.setattr(runtime_main, "serve", serve)
    monkeypatch.setattr(runtime_main, "setup_logging", lambda level: None)
    monkeypatch.setenv("GREETING", "Howdy")
    assert runtime_main.main(f"{__name__}:greeting_service") == 0
    [(service, settings)] = served
    assert isinstance(settings, GreetingSettings) and settings.greeting == "Howdy"
    assert service.name == "howdy"


def test_main_refuses_unusable_settings_of_the_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DTMF_PREFETCH", "none")
    assert runtime_main.main("calllog") == 2
    assert "DTMF_PREFETCH" in capsys.readouterr().err
