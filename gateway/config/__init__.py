"""config.toml → one immutable, validated `Config`, or a `ConfigError` listing every problem.

Nothing else in the program reads the TOML file. Each problem names the key path the admin has to
fix (`customers[1].billing: must be "direct" or "indirect", got "dirct"`).

- values.py: typed values (durations, sizes, addresses) and `Table`, which walks a section;
- model.py: the dataclasses the program reads;
- sections.py, people.py, rules.py: one reader per section;
- load.py: the whole file, the checks across sections and the warnings.

A new section is a dataclass in model.py, a reader beside its kind, and a line in load.py.
"""

from gateway.config.load import build_config, load_config
from gateway.config.model import (
    ACTIONS,
    LANGUAGES,
    PRIORITIES,
    ROLES,
    WHEN_KEYS,
    Alerts,
    Config,
    Imap,
    KnownIssue,
    Metrics,
    Microsoft,
    Outbound,
    Partner,
    Rule,
    Smtp,
    Storage,
    Support,
)
from gateway.config.values import ConfigError, parse_duration, parse_size
from routing.directory import Agent, Customer, Party

__all__ = [
    "ACTIONS",
    "Alerts",
    "LANGUAGES",
    "PRIORITIES",
    "ROLES",
    "WHEN_KEYS",
    "Agent",
    "Config",
    "ConfigError",
    "Customer",
    "Imap",
    "KnownIssue",
    "Metrics",
    "Microsoft",
    "Outbound",
    "Partner",
    "Party",
    "Rule",
    "Smtp",
    "Storage",
    "Support",
    "build_config",
    "load_config",
    "parse_duration",
    "parse_size",
]
