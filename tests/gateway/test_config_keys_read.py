"""Every setting that config validation accepts is read by some code: a key that is accepted
but does nothing is how `[outbound] auth = "xoauth2"` shipped broken (issue 16).

Each field of the config's dataclasses must be read outside gateway/config/, which only
builds them. A field of a section that shares names with another (Outbound and Imap both have
`auth`, `token_command`, `username`…) counts only when read through its own section
(`config.outbound.auth`, or `settings.auth` in the module that is handed that section)."""

from __future__ import annotations

import ast
import dataclasses
import re
from collections import defaultdict
from pathlib import Path

import pytest

from gateway.config import model as config_module

REPO = Path(__file__).resolve().parents[2]
PROGRAM = [*REPO.glob("gateway/**/*.py"), *REPO.glob("routing/**/*.py"), REPO / "gatewayd.py"]
# class -> (names the section goes by anywhere, {module: names it goes by there})
SECTIONS: dict[str, tuple[set[str], dict[str, set[str]]]] = {
    "Partner": ({"partner"}, {}),
    "Support": ({"support"}, {}),
    "Storage": ({"storage"}, {}),
    "Smtp": ({"smtp"}, {}),
    "Outbound": (
        {"outbound"},
        {"gateway/delivery/relay.py": {"settings"}, "gateway/delivery/outbox.py": {"settings"}},
    ),
    "Microsoft": ({"microsoft"}, {}),
    "Imap": (
        set(),
        {
            "gateway/intake/imap.py": {"settings", "mailbox"},
            "gateway/intake/imap_client.py": {"settings"},
        },
    ),
    "Metrics": ({"metrics"}, {"gateway/runtime/daemon.py": {"settings"}}),
    "Alerts": ({"alerts"}, {}),
}
READ_OTHERWISE = {
    ("Config", "storage"): "compared whole on SIGHUP (gateway/runtime/daemon.py: restart needed)",
    ("Partner", "secret_file"): "the secret is read from it while the config is built",
    ("Partner", "language"): "the default of agents[].language, taken while the config is built",
    ("Support", "plan"): "becomes plans.default while the config is built",
    ("Plans", "default"): "read by Plans.get(None), which the timers, the digest and the CLI call",
    ("Outbound", "dkim_key_file"): "the key is read from it, and tried, while the config is built",
}


def reads() -> tuple[dict[str, set[tuple[str, str]]], set[str]]:
    """Per module, the (owner, attribute) pairs read; and every attribute name read."""
    pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    names: set[str] = set()
    for path in PROGRAM:
        module = str(path.relative_to(REPO))
        if module.startswith("gateway/config/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)):
                continue
            names.add(node.attr)
            owner = node.value
            if isinstance(owner, ast.Attribute):
                pairs[module].add((owner.attr, node.attr))
            elif isinstance(owner, ast.Name):
                pairs[module].add((owner.id, node.attr))
    # Jinja2 templates read keys too: {{ support.contact }}
    for template in REPO.glob("gateway/delivery/templates/*/*.txt"):
        module = str(template.relative_to(REPO))
        found = re.findall(r"\b([a-z_]+)\.([a-z_]+)", template.read_text())
        pairs[module].update(found)
        names.update(attribute for _, attribute in found)
    return pairs, names


PAIRS, NAMES = reads()


# Handed on under another name: Config.directory (routing/directory.py's Directory).
HANDED_ON = {
    ("Microsoft", "reply_domains"): ("directory", "upstream_domains"),
    ("Microsoft", "escalation_address"): ("directory", "microsoft_address"),
}


def is_read(owner: str, field: str) -> bool:
    if (owner, field) in HANDED_ON:
        name, attribute = HANDED_ON[owner, field]
        return any((name, attribute) in found for found in PAIRS.values())
    if owner not in SECTIONS:
        return field in NAMES
    anywhere, per_module = SECTIONS[owner]
    if any((name, field) in found for found in PAIRS.values() for name in anywhere):
        return True
    return any((name, field) in PAIRS[module] for module, ns in per_module.items() for name in ns)


def settings() -> list[tuple[str, str]]:
    classes = [
        value
        for value in vars(config_module).values()
        if dataclasses.is_dataclass(value) and value.__module__ == config_module.__name__
    ]
    return [(cls.__name__, f.name) for cls in classes for f in dataclasses.fields(cls)]


@pytest.mark.parametrize(("owner", "field"), settings())
def test_every_setting_is_read(owner: str, field: str) -> None:
    if (owner, field) in READ_OTHERWISE:
        return
    assert is_read(owner, field), f"{owner}.{field} is accepted by config validation but never read"
