"""gateway/runtime/alerts.py: problems raised and resolved in the alerts table, each told once,
by one daemon among those sharing the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.config import Config
from gateway.delivery.templates import Templates
from gateway.runtime.alerts import AlertWatch, raised
from gateway.store.engine import Store
from gateway.store.models import OutboxMessage

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def notices(store: Store) -> list[tuple[list[str], str]]:
    with store.reader() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [(row.recipients, row.subject) for row in rows]


def check(watch: AlertWatch, store: Store, config: Config, at: datetime, read: datetime) -> int:
    facts = watch.facts(at, {"support": read}, 0, [])
    return len(watch.check(store, lambda: Templates(config.templates_folder), facts))


def test_a_stalled_mailbox_is_told_once_to_the_admin_agents_and_resolved_once(
    config: Config, store: Store
) -> None:
    one = AlertWatch(config, "host-a:/srv/one", NOW - timedelta(hours=1))
    two = AlertWatch(config, "host-b:/srv/two", NOW - timedelta(hours=1))
    stale = NOW - timedelta(minutes=20)
    assert check(one, store, config, NOW, stale) == 1
    assert check(two, store, config, NOW, stale) == 0  # the other daemon: already told
    assert check(one, store, config, NOW + timedelta(seconds=10), stale) == 0  # still holds
    with store.reader() as session:
        assert raised(session) == [f"mailbox support has not been read since {stale.isoformat()}"]
    later = NOW + timedelta(minutes=1)
    assert check(two, store, config, later, later) == 1  # read again: whoever sees it tells
    assert check(one, store, config, later, later) == 0
    told = notices(store)
    assert [to for to, _ in told] == [["priya@contoso.example"]] * 2  # the admin-agent only
    assert told[0][1].startswith("[gatewayd] mailbox support has not been read since")
    assert told[1][1].startswith("[gatewayd] resolved: mailbox support has not been read")


def test_a_hosts_own_problem_is_resolved_only_by_that_daemon(config: Config, store: Store) -> None:
    deaths = [NOW - timedelta(minutes=m) for m in (1, 2, 3)]
    one = AlertWatch(config, "host-a:/srv/one", NOW - timedelta(hours=1))
    two = AlertWatch(config, "host-b:/srv/two", NOW - timedelta(hours=1))
    templates = lambda: Templates(config.templates_folder)  # noqa: E731
    assert len(one.check(store, templates, one.facts(NOW, {}, 0, deaths))) == 1
    assert two.check(store, templates, two.facts(NOW, {}, 0, [])) == []  # not its worker
    with store.reader() as session:
        assert len(raised(session)) == 1
    assert len(one.check(store, templates, one.facts(NOW + timedelta(hours=1), {}, 0, []))) == 1
