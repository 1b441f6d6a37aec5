"""contracts/asyncapi.json: generated from contracts/, valid for the AsyncAPI parser, complete.

The parser check runs tools/asyncapi/validate.mjs (@asyncapi/parser, pinned in
tools/asyncapi/package-lock.json), which `make test` installs with `npm ci` first
(tools/asyncapi/ensure.sh). Without it the test fails: it is part of the contract.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contracts import topology as t
from contracts.asyncapi import DOCUMENT_PATH, INLINE_PAYLOADS, SCHEMA_FORMAT, generate
from contracts.control import ANNOUNCE_ROUTING_KEY, CONTROL_EXCHANGE, DISCOVER_ROUTING_KEY
from contracts.schemas import SCHEMA_DIR
from services.runtime.main import build_service, load_builder

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "asyncapi"
TOOLS_MISSING = (
    "the AsyncAPI parser is not installed in tools/asyncapi/node_modules: "
    "run `make asyncapi-tools` (tools/asyncapi/ensure.sh, part of `make test`)"
)

# What draft-07 reads as the committed files (draft 2020-12) mean: the payloads are given to
# the parser as draft-07. `$defs` only holds the definitions the `$ref`s point to (a JSON
# pointer, whatever the draft); `discriminator` is an annotation of pydantic's, unknown to both.
DRAFT7_KEYWORDS = {
    "$id", "$schema", "$ref", "$comment", "title", "description", "default", "readOnly",
    "writeOnly", "examples", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "additionalItems", "items",
    "maxItems", "minItems", "uniqueItems", "contains", "maxProperties", "minProperties",
    "required", "additionalProperties", "definitions", "properties", "patternProperties",
    "dependencies", "propertyNames", "const", "enum", "type", "format", "contentMediaType",
    "contentEncoding", "if", "then", "else", "allOf", "anyOf", "oneOf", "not",
}  # fmt: skip
SAME_IN_BOTH = DRAFT7_KEYWORDS | {"$defs", "discriminator"}
# Keywords whose value is a map of names to schemas, or one schema, or a list of schemas.
SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions", "dependencies"}
SCHEMA_ONE = {"items", "additionalProperties", "not", "if", "then", "else", "contains"}
SCHEMA_LIST = {"allOf", "anyOf", "oneOf"}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return loaded


def test_committed_asyncapi_document_matches_the_contracts() -> None:
    committed = DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == generate(), "contracts/asyncapi.json drifted: run `make schemas` and commit"


def test_the_asyncapi_parser_validates_the_committed_document() -> None:
    node = shutil.which("node")
    if node is None or not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(TOOLS_MISSING, pytrace=False)
    result = subprocess.run(
        [node, str(TOOLS / "validate.mjs"), str(DOCUMENT_PATH)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"the AsyncAPI parser refuses contracts/asyncapi.json:\n{report}"
    assert "valid AsyncAPI 3.0.0" in report
    assert "\nerror:" not in f"\n{report}"


def _matches(address: str | None, routing_key: str, parameters: dict[str, Any]) -> bool:
    """Whether a routing key (or binding pattern) is the channel's address, where a
    parameter stands for one of its enum values, or any one word without an enum."""
    if address is None:
        return False
    pattern = ""
    for part in re.split(r"(\{[^}]+\})", address):
        if part.startswith("{"):
            allowed = parameters[part[1:-1]].get("enum")
            words = "|".join(re.escape(word) for word in allowed) if allowed else r"[^.]+"
            pattern += f"(?:{words})"
        else:
            pattern += re.escape(part)
    return re.fullmatch(pattern, routing_key) is not None


def _channel_for(doc: dict[str, Any], exchange: str, routing_key: str) -> str | None:
    for name, channel in doc["channels"].items():
        amqp = channel["bindings"]["amqp"]
        if amqp["is"] != "routingKey" or amqp["exchange"]["name"] != exchange:
            continue
        if amqp["exchange"]["type"] == "fanout":
            return str(name)  # a fanout exchange ignores the routing key
        if _matches(channel["address"], routing_key, channel.get("parameters", {})):
            return str(name)
    return None


def _service_bindings(tmp_path: Path) -> list[tuple[str, str, str]]:
    """(who, exchange, routing key) of every binding the services and the edge make."""
    env = {"DTMF_CALLLOG_PATH": str(tmp_path / "calllog.jsonl")}
    found = []
    for module in sorted((ROOT / "services").glob("*/service.py")):
        name = module.parent.name
        if name == "runtime":
            continue
        service = build_service(load_builder(name), env)
        found += [(name, b.exchange, b.routing_key) for b in service.queue_bindings]
    assert {who for who, _, _ in found} >= {"sales", "support", "menu", "calllog", "billing"}
    return [
        *found,
        ("topology", t.EVENTS_EXCHANGE, t.ROUTES_BINDING),  # dtmf.routes <- dtmf.events
        ("topology", t.DEAD_EXCHANGE, ""),  # dtmf.dead queue
        ("edge", t.REPLIES_EXCHANGE, "edge-7f3a"),  # its reply queue, by edge id
        ("menu", CONTROL_EXCHANGE, ANNOUNCE_ROUTING_KEY),
        ("service", CONTROL_EXCHANGE, DISCOVER_ROUTING_KEY),
    ]


def test_every_binding_of_the_services_is_a_channel(tmp_path: Path) -> None:
    doc = document()
    bindings = _service_bindings(tmp_path)
    missing = [b for b in bindings if _channel_for(doc, b[1], b[2]) is None]
    assert not missing, f"bindings with no channel in contracts/asyncapi.json: {missing}"
    # dtmf.routes <- dtmf.events is an exchange-to-exchange binding; the document says so.
    routes = doc["channels"][_channel_for(doc, t.ROUTES_EXCHANGE, "dtmf.1") or ""]
    assert routes["bindings"]["amqp"]["x-exchange-bindings"] == [
        {"exchange": t.EVENTS_EXCHANGE, "routingKey": t.ROUTES_BINDING}
    ]
    assert routes["bindings"]["amqp"]["x-exchange-arguments"] == {
        "alternate-exchange": t.UNROUTED_EXCHANGE
    }


def test_every_key_routes_to_a_channel_on_events_and_routes() -> None:
    doc = document()
    for word in doc["channels"]["keyPress"]["parameters"]["key"]["enum"]:
        assert _channel_for(doc, t.EVENTS_EXCHANGE, f"dtmf.{word}") == "keyPress"
        assert _channel_for(doc, t.ROUTES_EXCHANGE, f"dtmf.{word}") == "routedKeyPress"
    assert _channel_for(doc, t.EVENTS_EXCHANGE, "dtmf.*") is None  # wildcards are no words
    assert _channel_for(doc, t.EVENTS_EXCHANGE, "dtmf.e") is None


def test_queues_carry_the_topology_arguments() -> None:
    channels = document()["channels"]

    def queue(name: str) -> dict[str, Any]:
        amqp: dict[str, Any] = channels[name]["bindings"]["amqp"]
        assert amqp["is"] == "queue"
        return amqp

    assert queue("serviceQueue")["x-queue-arguments"] == t.service_queue_arguments(interactive=True)
    assert queue("calllogQueue")["x-queue-arguments"] == t.service_queue_arguments(
        interactive=False
    )
    assert queue("replyQueue")["x-queue-arguments"] == t.REPLY_QUEUE_ARGUMENTS
    assert queue("replyQueue")["queue"]["exclusive"] is True
    assert queue("serviceQueue")["queue"]["name"] == t.service_queue("{service}")
    assert queue("deadQueue")["queue"]["name"] == t.DEAD_QUEUE
    assert queue("serviceQueue")["queue"]["durable"] is True


def _resolve(ref: str) -> dict[str, Any]:
    file_part, _, pointer = ref.partition("#")
    path = SCHEMA_DIR / Path(file_part).name
    assert file_part == f"./schemas/{path.name}", f"{ref}: not a file of contracts/schemas/"
    assert path.is_file(), f"{ref}: no such schema file"
    node: Any = json.loads(path.read_text(encoding="utf-8"))
    for part in [p for p in pointer.split("/") if p]:
        assert part in node, f"{ref}: {part!r} is not in {path.name}"
        node = node[part]
    assert isinstance(node, dict)
    return node


def test_every_message_references_an_existing_schema_file() -> None:
    messages = document()["components"]["messages"]
    for name, message in messages.items():
        payload = message["payload"]
        assert payload["schemaFormat"] == SCHEMA_FORMAT
        if name in INLINE_PAYLOADS:
            assert "$ref" not in payload["schema"]
            continue
        _resolve(payload["schema"]["$ref"])
    # An inline payload is only for a message without a committed schema file.
    assert not (SCHEMA_DIR / "discover.schema.json").exists(), "reference discover's file"
    referenced = {
        m["payload"]["schema"]["$ref"].split("#")[0].removeprefix("./schemas/")
        for n, m in messages.items()
        if n not in INLINE_PAYLOADS
    }
    assert referenced == {p.name for p in SCHEMA_DIR.glob("*.schema.json")}


def test_message_examples_are_valid_against_their_schemas() -> None:
    for name, message in document()["components"]["messages"].items():
        if name in INLINE_PAYLOADS:
            continue
        ref = message["payload"]["schema"]["$ref"]
        file_part, _, pointer = ref.partition("#")
        whole = _resolve(file_part)
        schema = {"$defs": whole.get("$defs", {}), "$ref": f"#{pointer}"} if pointer else whole
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        for example in message["examples"]:
            errors = [e.message for e in validator.iter_errors(example["payload"])]
            assert not errors, f"{name} example: {errors}"


def _keywords(schema: Any, where: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    found = [f"{where}/{k}" for k in schema if k not in SAME_IN_BOTH]
    for key, value in schema.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            for sub, subschema in value.items():
                found += _keywords(subschema, f"{where}/{key}/{sub}")
        elif key in SCHEMA_ONE:
            found += _keywords(value, f"{where}/{key}")
        elif key in SCHEMA_LIST and isinstance(value, list):
            for i, subschema in enumerate(value):
                found += _keywords(subschema, f"{where}/{key}/{i}")
    return found


def test_committed_schemas_mean_the_same_to_a_draft_07_reader() -> None:
    """The document hands the 2020-12 files to the parser as draft-07 (the newest JSON
    Schema AsyncAPI 3.0 knows): no keyword may be one that draft-07 reads otherwise."""
    for path in sorted(SCHEMA_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert not _keywords(schema, path.name), f"{path.name}: not draft-07 keywords"
