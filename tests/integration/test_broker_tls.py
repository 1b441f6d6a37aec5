"""amqps:// to a broker with a certificate from a CA made for the test: verified by default,
the CA configurable (AMQP_CA_FILE), and never turned off without a WARNING."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiormq.exceptions import AMQPConnectionError

from services.edge.bus import running_edge
from services.edge.simulator import scripted_call
from services.runtime.amqp import broker
from services.runtime.app import running_service
from services.runtime.settings import Settings
from services.sales import service as sales
from tests.integration.conftest import SystemSettings
from tools.private_nodes.broker import PrivateBroker
from tools.private_nodes.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.integration

REPLY_S = 5.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    # The broker's certificate names localhost only: 127.0.0.1 is "another host name".
    return make_tls_files(tmp_path_factory.mktemp("tls"), hostnames=["localhost"])


@pytest.fixture(scope="module")
def tls_broker(certs: TlsFiles) -> Iterator[PrivateBroker]:
    node = PrivateBroker(tls=certs)
    node.start()
    try:
        yield node
    finally:
        node.remove()


@pytest.fixture
async def tls_settings(
    tls_broker: PrivateBroker, certs: TlsFiles, tmp_path: Path
) -> AsyncIterator[SystemSettings]:
    env = {"AMQP_URL": tls_broker.tls_url("localhost"), "AMQP_CA_FILE": str(certs.ca)}
    yield replace(
        SystemSettings.from_env(env),
        calllog_path=tmp_path / "calllog.jsonl",
        spool_dir=tmp_path / "spool",
        edge_id="edge-tls",
        http_port=-1,
        shutdown_timeout_s=5.0,
    )


async def test_a_service_answers_a_press_over_tls_with_the_configured_ca(
    tls_settings: SystemSettings,
) -> None:
    async with (
        running_service(sales.build(tls_settings), tls_settings),
        running_edge(tls_settings) as edge,
    ):
        result = await scripted_call(edge, ["1"], reply_timeout=REPLY_S, out=lambda _: None)
    assert result.session.said == ["Routing you to Sales..."]


async def _refused(url: str) -> str:
    with pytest.raises(AMQPConnectionError) as refused:
        connection = await broker.connect(url, name="dtmf-tls-test")
        await connection.close()
    return str(refused.value)


async def test_the_wrong_ca_is_refused(tls_broker: PrivateBroker, tmp_path: Path) -> None:
    other = make_tls_files(tmp_path / "other", hostnames=["localhost"], label="another")
    env = {"AMQP_URL": tls_broker.tls_url("localhost"), "AMQP_CA_FILE": str(other.ca)}
    assert "certificate verify failed" in await _refused(Settings.from_env(env).amqp_url)


async def test_verification_is_on_without_a_ca(tls_broker: PrivateBroker) -> None:
    # The system's CAs, which never signed the test's CA: refused, not trusted blindly.
    assert "certificate verify failed" in await _refused(tls_broker.tls_url("localhost"))


async def test_a_certificate_for_another_host_name_is_refused(
    tls_broker: PrivateBroker, certs: TlsFiles
) -> None:
    env = {"AMQP_URL": tls_broker.tls_url("127.0.0.1"), "AMQP_CA_FILE": str(certs.ca)}
    assert "IP address mismatch" in await _refused(Settings.from_env(env).amqp_url)


async def test_turning_verification_off_is_logged(
    tls_broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    url = tls_broker.tls_url("127.0.0.1") + "?no_verify_ssl=1"
    with caplog.at_level(logging.WARNING, logger=broker.__name__):
        connection = await broker.connect(url, name="dtmf-tls-optout")
        await connection.close()
    [warning] = [r for r in caplog.records if r.name == broker.__name__]
    assert warning.levelno == logging.WARNING
    assert "verification" in warning.getMessage() and "OFF" in warning.getMessage()
