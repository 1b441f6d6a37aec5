"""`dtmf-bus`: the one entry point for every service, the simulator and the tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from services.runtime.settings import Settings, SettingsError


def _run_service(args: argparse.Namespace) -> int:
    from services.runtime.main import main

    return main(args.service)


def _edge(args: argparse.Namespace) -> int:
    from services.edge import main

    return main.run(args)


def _demo(args: argparse.Namespace) -> int:
    from services.calllog.settings import CallLogSettings
    from services.runtime.lifecycle import setup_logging
    from tools.demo import run_demo

    # The demo reads what every process reads, and where the call log writes (it says so).
    settings = CallLogSettings.from_env()
    setup_logging(settings.log_level)
    return asyncio.run(run_demo(settings, keys=getattr(args, "keys", None)))


def _sip_gateway(args: argparse.Namespace) -> int:
    from tools import sip_gateway

    return asyncio.run(sip_gateway.run(args))


def _dead_letters(args: argparse.Namespace) -> int:
    from services.runtime.lifecycle import setup_logging
    from tools import deadletters

    setup_logging(Settings.from_env().log_level)
    # Our one-line "error: cannot reach the broker ..." says it all; aiormq would repeat it.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    return asyncio.run(deadletters.run(args))


def _retire(args: argparse.Namespace) -> int:
    from services.runtime.lifecycle import setup_logging
    from tools import retire

    setup_logging(Settings.from_env().log_level)
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    return asyncio.run(retire.run(args))


def _schemas(args: argparse.Namespace) -> int:
    from contracts import asyncapi
    from contracts.schemas import write

    for path in [*write(), asyncapi.write()]:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from services.edge import main as edge_main
    from tools import deadletters, retire, scaffold, sip_gateway
    from tools.demo import DEMO_KEYS

    parser = argparse.ArgumentParser(prog="dtmf-bus", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a consumer service (sales, support, menu, calllog, ...)")
    run.add_argument(
        "service", help="a name under services/ (sales), or module:function returning a service"
    )
    run.set_defaults(func=_run_service)

    edge = sub.add_parser("edge", help="run the media edge with a call source")
    edge_main.add_arguments(edge)
    edge.set_defaults(func=_edge)

    demo = sub.add_parser("demo", help="start every service and run one simulated call")
    demo.add_argument("--keys", default=DEMO_KEYS, help=f"keys to press (default {DEMO_KEYS})")
    demo.set_defaults(func=_demo)

    up = sub.add_parser("up", help="start every service and a keypad in this terminal")
    up.set_defaults(func=_demo)

    gateway = sub.add_parser(
        "sip-gateway", help="create or update a VideoSDK inbound SIP gateway with DTMF enabled"
    )
    sip_gateway.add_arguments(gateway)
    gateway.set_defaults(func=_sip_gateway)

    dead = sub.add_parser("dead-letters", help="list or replay the dead letters in dtmf.dead")
    deadletters.add_arguments(dead)
    dead.set_defaults(func=_dead_letters)

    gone = sub.add_parser(
        "retire",
        help="delete a stopped service's queue and bindings, so its keys go to the menu",
    )
    retire.add_arguments(gone)
    gone.set_defaults(func=_retire)

    consumer = sub.add_parser(
        "new-consumer", help="scaffold a consumer service: its module, test and deployment"
    )
    scaffold.add_arguments(consumer)
    consumer.set_defaults(func=scaffold.run)

    schemas = sub.add_parser(
        "schemas", help="regenerate contracts/schemas/*.json and contracts/asyncapi.json"
    )
    schemas.set_defaults(func=_schemas)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
