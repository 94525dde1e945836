"""Routing rules and known issues: conditions checked by routing/conditions.py's registry."""

from __future__ import annotations

from gateway.config.model import ACTIONS, PRIORITIES, THEN_KEYS, WHEN_KEYS, Config, KnownIssue, Rule
from gateway.config.values import Table, identifier_value, text_value, timestamp_value
from routing.conditions import OPTIONS, Names, OptionError
from routing.conditions import prepare as prepare_condition
from routing.engine import Then


def read_known_issue(t: Table) -> KnownIssue:
    issue = KnownIssue(
        id=t.str("id"),
        service=t.str("service", ""),
        title=t.str("title"),
        status=t.str("status", "investigating"),
        words=t.list("words", text_value),
        until=t.get("until", timestamp_value, None),
    )
    t.finish()
    return issue


def read_rule(t: Table, names: Names) -> Rule:
    name = t.str("name")
    when, then = t.table("when"), t.table("then")
    prepared = []
    options = {key: value for key, value in when.data.items() if key in OPTIONS}
    for key in options:
        if OPTIONS[key] not in when.data:
            t.problems.append(
                f"{when.key(key)}: is an option of {OPTIONS[key]}, which is not given"
            )
    for key, value in when.data.items():
        if key in options:
            continue
        if key not in WHEN_KEYS:
            known = ", ".join(sorted(WHEN_KEYS))
            t.problems.append(f"{when.key(key)}: unknown condition; known: {known}")
            continue
        own = {option: v for option, v in options.items() if OPTIONS[option] == key}
        try:
            prepared.append((key, prepare_condition(key, value, names, own)))
        except OptionError as exc:
            t.problems.append(f"{when.key(exc.key)}: {exc}")
        except ValueError as exc:
            t.problems.append(f"{when.key(key)}: {exc}")
    outcome = _then(then, names)
    t.finish()
    return Rule(name=name, when=tuple(prepared), then=outcome)


def _then(then: Table, names: Names) -> Then:
    for key in sorted(set(then.data) - THEN_KEYS):
        then.problems.append(f"{then.key(key)}: unknown key; known: {', '.join(sorted(THEN_KEYS))}")
    outcome = Then(
        action=then.choice("action", ACTIONS, Then.action),
        queue=then.get("queue", identifier_value, Then.queue),
        party=then.str("party", Then.party),
        category=then.str("category", Then.category),
        reply=then.get("reply", identifier_value, Then.reply),
        priority=then.choice("priority", PRIORITIES, Then.priority),
    )
    if outcome.action == "forward" and not outcome.party:
        then.problems.append(f'{then.key("party")}: is required with action = "forward"')
    elif outcome.party and outcome.party not in names.parties:
        then.problems.append(f"{then.key('party')}: no [[parties]] entry has id {outcome.party!r}")
    return outcome


def check_reply_templates(config: Config, problems: list[str]) -> None:
    from gateway.delivery.templates import SHIPPED

    folders = [SHIPPED / "en"] + (
        [config.templates_folder / "en"] if config.templates_folder else []
    )
    for i, rule in enumerate(config.rules):
        name = rule.then.reply
        if name and not any((folder / f"{name}.txt").exists() for folder in folders):
            problems.append(
                f"rules[{i}].then.reply: no template {name}.txt in en/ of the "
                "shipped templates or of templates.folder"
            )


def check_rule_queues(config: Config, problems: list[str]) -> None:
    """A queue that no agent works in would swallow tickets unseen."""
    served = {"helpdesk"} | {queue for agent in config.agents for queue in agent.queues}
    for i, rule in enumerate(config.rules):
        queue = rule.then.queue
        if queue and queue not in served:
            problems.append(f"rules[{i}].then.queue: no [[agents]] entry works in queue {queue!r}")
