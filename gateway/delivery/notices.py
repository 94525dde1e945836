"""Notices to agents: operational problems for the admin-agents, refused replies for the agent
concerned. Each problem reaches an agent at most once an hour."""

from __future__ import annotations

from datetime import timedelta

from gateway.config import Agent, Config
from gateway.delivery import outbox, sender
from gateway.delivery.templates import Templates
from gateway.store import outbox as outbox_rows
from gateway.store.batch import Batch
from gateway.store.engine import Store
from routing.rate_limits import may_notify

NOTICE_INTERVAL = timedelta(hours=1)


def queue_notice(
    batch: Batch,
    config: Config,
    templates: Templates,
    agent: Agent,
    problem: str,
    subject: str,
    text: str,
) -> bool:
    """Queue a notice unless this agent was told of `problem` within the hour."""
    return queue_once_an_hour(
        batch, sender.notice(config, templates, agent, problem, subject, text)
    )


def queue_once_an_hour(batch: Batch, mail: sender.OutgoingMail) -> bool:
    """Queue `mail` unless mail of its rate key went out within the hour."""
    if not may_notify(outbox_rows.sent_recently(batch, mail.rate_key or "", NOTICE_INTERVAL)):
        return False
    outbox.enqueue(batch, mail, ticket_id=None)
    return True


def notify_admins(
    store: Store, config: Config, templates: Templates, problem: str, subject: str, text: str
) -> int:
    """Tell every admin-agent not told of `problem` within the hour; how many were told."""
    admins = [agent for agent in config.agents if "admin-agent" in agent.roles]
    with store.session() as session:
        batch = Batch.immediate(session)
        return sum(
            queue_notice(batch, config, templates, agent, problem, subject, text)
            for agent in admins
        )
