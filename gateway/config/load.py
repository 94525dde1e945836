"""Reading config.toml: every section built, then checks across sections, then warnings."""

from __future__ import annotations

import dataclasses
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway.config.microsoft import (
    check_sign_in,
    generated_customers,
    merge_customers,
    read_directory,
    read_microsoft,
)
from gateway.config.model import Config
from gateway.config.operations import read_alerts, read_metrics
from gateway.config.people import read_agent, read_customer, read_party
from gateway.config.plans import read_plans
from gateway.config.rules import (
    check_reply_templates,
    check_rule_queues,
    read_known_issue,
    read_rule,
)
from gateway.config.sections import (
    read_imap,
    read_outbound,
    read_partner,
    read_smtp,
    read_storage,
    read_support,
)
from gateway.config.values import ConfigError, Table, expand_env, parse_duration, positive_duration
from routing.conditions import Names
from routing.directory import uncovered


def _unused_agent_queues(config: Config) -> list[str]:
    """An agent's queue that no rule sends tickets to is most likely a typo ("helpdsk"): its
    agents would never hear of a ticket through it."""
    used = {"helpdesk"} | {rule.then.queue for rule in config.rules}
    return [
        f"agents[{i}].queues[{j}]: no rule and no default sends tickets to queue {queue!r}"
        for i, agent in enumerate(config.agents)
        for j, queue in enumerate(agent.queues)
        if queue not in used
    ]


def _uncovered_queues(config: Config) -> list[str]:
    """A queue and customer that no agent covers: its tickets go to the admin-agents."""
    queues = ["helpdesk", *(rule.then.queue for rule in config.rules)]
    return [
        f"queue {queue!r}: no agent of it may act on customer {customer!r}; "
        "its tickets go to the admin-agents"
        for queue, customer in uncovered(queues, config.customers, config.agents)
    ]


def _unique(problems: list[str], section: str, values: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            problems.append(f"{section}[{i}].{what}: {value!r} is used twice")
        seen.add(value)


def _check_customer_plans(config: Config, problems: list[str]) -> None:
    known = config.plans.ids()
    for i, customer in enumerate(config.customers):
        if customer.plan and customer.plan not in known:
            problems.append(f"customers[{i}].plan: no [[plans]] entry has id {customer.plan!r}")


def build_config(data: dict[str, Any], path: Path, create_secret: bool = False) -> Config:
    problems: list[str] = []
    data = expand_env(data, "", problems)
    base = path.parent
    root = Table(data, "", problems)
    parties = tuple(read_party(t) for t in root.tables("parties"))
    by_hand = tuple(read_customer(t, {p.id for p in parties}) for t in root.tables("customers"))
    directory = read_directory(root.table("directory"), base)
    generated = generated_customers(directory, {p.id for p in parties}, problems)
    customers = merge_customers(by_hand, generated)
    names = Names(frozenset(c.id for c in customers), frozenset(p.id for p in parties))
    sections = {
        name: root.table(name) for name in ("escalation", "service_health", "security", "templates")
    }
    escalation, security = sections["escalation"], sections["security"]
    partner = read_partner(root.table("partner"), base, create_secret)
    support = read_support(root.table("support"))
    plans = read_plans(list(root.tables("plans")), support, support.plan, "support.plan", problems)
    config = Config(
        path=path,
        partner=partner,
        support=support,
        storage=read_storage(root.table("storage"), base),
        smtp=read_smtp(root.table("smtp")) if "smtp" in data else None,
        imap=tuple(read_imap(t, base) for t in root.tables("imap")),
        outbound=read_outbound(
            root.table("outbound"),
            base,
            partner.address.partition("@")[2] if partner.address else "",
        ),
        microsoft=read_microsoft(root.table("microsoft"), base),
        parties=parties,
        customers=customers,
        agents=tuple(
            read_agent(t, {c.id for c in customers}, partner.language)
            for t in root.tables("agents")
        ),
        known_issues=tuple(read_known_issue(t) for t in root.tables("known_issues")),
        service_health_file=sections["service_health"].path_value("file", base),
        cluster_after=escalation.int("cluster_after", 3, minimum=1),
        cluster_window=escalation.get("cluster_window", parse_duration, timedelta(minutes=30)),
        trusted_authserv_id=security.str("trusted_authserv_id", ""),
        templates_folder=sections["templates"].path_value("folder", base),
        rules=tuple(read_rule(t, names) for t in root.tables("rules")),
        plans=plans,
        reply_address_lifetime=security.get(
            "reply_address_lifetime", positive_duration, timedelta(days=90)
        ),
        metrics=read_metrics(root.table("metrics")) if "metrics" in data else None,
        alerts=read_alerts(root.table("alerts")),
        directory_settings=directory,
        generated_customers=frozenset(c.id for c in customers) - {c.id for c in by_hand},
    )
    for section in sections.values():
        section.finish()
    root.finish()
    check_reply_templates(config, problems)
    check_rule_queues(config, problems)
    _check_customer_plans(config, problems)
    auths = [(f"imap[{i}].auth", m.auth) for i, m in enumerate(config.imap)]
    check_sign_in(problems, config.microsoft, [*auths, ("outbound.auth", config.outbound.auth)])
    if directory.provider and directory.provider not in {p.id for p in parties}:
        problems.append(f"directory.provider: no [[parties]] entry has id {directory.provider!r}")
    _unique(problems, "customers", [c.id for c in customers], "id")
    _unique(problems, "parties", [p.id for p in parties], "id")
    _unique(problems, "agents", [a.address for a in config.agents], "address")
    _unique(problems, "imap", [m.name for m in config.imap], "name")
    if problems:
        raise ConfigError(path, problems)
    warnings = [*_unused_agent_queues(config), *_uncovered_queues(config)]
    return dataclasses.replace(config, warnings=tuple(warnings))


def load_config(path: Path | str, create_secret: bool = False) -> Config:
    """Read and validate the config file; raises ConfigError naming every problem."""
    path = Path(path).absolute()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(path, [f"cannot be read: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"is not valid TOML: {exc}"]) from None
    return build_config(data, path, create_secret)
