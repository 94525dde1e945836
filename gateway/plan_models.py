"""Tables of support plans (to join gateway/store/models.py): agents' time entries, and the
record of what must happen once (a month's statements, a day's digest, a usage notice)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage import Base, UTCDateTime


class TimeEntry(Base):
    """An agent's `#time` on a ticket; a correction is a negative entry."""

    __tablename__ = "time_entries"
    __table_args__ = (Index("ix_time_entries_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent: Mapped[str] = mapped_column(String(998))
    minutes: Mapped[int] = mapped_column(Integer)
    billable: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw_message_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"))


class SentOnce(Base):
    """A key per thing that must be done once among all daemons: "statements:2026-11",
    "digest:2026-12-01", "usage:fabrikam:2026-11:included:80". Written in the transaction that
    queues the mail, so it exists exactly when the mail does (gateway/sent_once.py)."""

    __tablename__ = "sent_once"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
