"""The `gatewayd` command line. Exit 0 on success, 2 on a usage or config error (one line per
problem, naming the key), 75 (EX_TEMPFAIL) when storage is unavailable.

One module per group of commands; each has `register(commands)`, which adds its subcommands.
A new group is a module here and a line in GROUPS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.cli import daemon, messages, microsoft, operations, plans, tickets, triage
from gateway.cli.base import EX_OK, EX_TEMPFAIL, EX_USAGE, Commands
from gateway.config import ConfigError, load_config
from gateway.logs import setup_logging
from gateway.store.faults import StorageUnavailable


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EX_USAGE
    setup_logging(getattr(args, "log_level", "INFO" if args.command == "run" else "WARNING"))
    try:
        config_path = getattr(args, "config", Path("config.toml"))
        config = load_config(config_path, create_secret=args.command == "run")
        return int(args.handler(config, args) or EX_OK)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.path.name}: {problem}", file=sys.stderr)
        return EX_USAGE
    except StorageUnavailable as exc:
        print(f"storage unavailable: {exc}", file=sys.stderr)
        return EX_TEMPFAIL


# In the order `gatewayd --help` lists them.
GROUPS = (daemon, messages, triage, tickets, plans, operations, microsoft)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite an option given before the subcommand.
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: ./config.toml)",
    )
    common.add_argument(
        "--log-level", default=argparse.SUPPRESS, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser = argparse.ArgumentParser(
        prog="gatewayd",
        parents=[common],
        description="Email ticket gateway of a Microsoft CSP partner",
    )
    commands = Commands(parser.add_subparsers(dest="command", metavar="COMMAND"), common)
    for group in GROUPS:
        group.register(commands)
    return parser
