"""What every command uses: exit codes, JSON output, the store."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from gateway.config import Config
from gateway.store.engine import Store

EX_OK, EX_FAILURE, EX_USAGE, EX_TEMPFAIL = 0, 1, 2, 75


Handler = Callable[[Config, argparse.Namespace], int]


class Commands:
    """Where a module of gateway/cli/ adds its subcommands; each gets the common options."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self._subparsers = subparsers
        self._common = common

    def add(self, name: str, handler: Handler | None, help_text: str) -> argparse.ArgumentParser:
        """A subcommand that `handler` runs with the loaded config; its parser, for arguments."""
        sub = self._subparsers.add_parser(
            name, parents=[self._common], help=help_text, description=help_text
        )
        sub.set_defaults(handler=handler)
        return sub

    def group(self, name: str, help_text: str, metavar: str) -> Commands:
        """A subcommand made of subcommands (`gatewayd tickets list`)."""
        parser = self.add(name, None, help_text)
        subparsers = parser.add_subparsers(dest=f"{name}_command", metavar=metavar, required=True)
        return Commands(subparsers, self._common)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def open_store(config: Config) -> Store:
    store = Store(config.storage.url)
    store.migrate()
    return store


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
