"""Routing: a parsed message, its customer and the rules of config.toml → a `Decision`.

Pure: no I/O, no database, no clock of its own (the caller passes `now`).
"""

from routing.conditions import Facts
from routing.engine import Decision, Rule, Then, decide

__all__ = ["Decision", "Facts", "Rule", "Then", "decide"]
