"""Operational notices to the admin-agents: one mail per problem and agent per hour at most."""

from __future__ import annotations

from datetime import timedelta

from gateway import outbox, sender
from gateway.config import Config
from gateway.storage import Store
from gateway.templates import Templates

NOTICE_INTERVAL = timedelta(hours=1)


def notify_admins(
    store: Store, config: Config, templates: Templates, problem: str, subject: str, text: str
) -> int:
    """Queue a notice to every admin-agent not told of `problem` within the hour; how many."""
    admins = [agent for agent in config.agents if "admin-agent" in agent.roles]
    queued = 0
    with store.session() as session:
        for agent in admins:
            mail = sender.notice(config, templates, agent, problem, subject, text)
            if outbox.sent_recently(session, mail.rate_key or "", NOTICE_INTERVAL):
                continue
            outbox.enqueue(session, mail, ticket_id=None)
            queued += 1
    return queued
