"""SQLModel tables: plans, themes, objectives, actions, leads, people and status history."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored as UTC; SQLite gives it back aware too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):  # noqa: D102
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kwargs) -> Field:
    return Field(sa_type=UTCDateTime, **kwargs)


class Plan(SQLModel, table=True):
    """An improvement plan (one council, one file imported)."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True, max_length=120)
    name: str
    organisation: str | None = None
    year: int | None = None
    layout: str | None = None
    source_file: str | None = None
    rag_scheme: str = "red,amber,green,blue"  # Blue = achieved and evidenced
    created_at: datetime = _when(default_factory=utcnow)
    updated_at: datetime = _when(default_factory=utcnow)


class Theme(SQLModel, table=True):
    """A theme / priority / area of a plan."""

    __table_args__ = (sa.UniqueConstraint("plan_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    name: str
    ref: str | None = None
    lead: str | None = None
    statement: str | None = None
    position: int = 0


class Objective(SQLModel, table=True):
    """A recommendation, requirement or objective holding actions."""

    __table_args__ = (sa.UniqueConstraint("plan_id", "ref_key"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    theme_id: int | None = Field(default=None, foreign_key="theme.id")
    ref: str
    ref_key: str
    text: str
    source: str | None = None
    outcome: str | None = None
    strategic_lead: str | None = None
    progress: str | None = None
    due_text: str | None = None
    due_date: date | None = None
    position: int = 0


class Action(SQLModel, table=True):
    """A numbered action. `rag` and `rating_change` are derived from the latest StatusUpdate."""

    __table_args__ = (
        sa.UniqueConstraint("plan_id", "ref_key"),
        sa.Index("ix_action_plan_rag", "plan_id", "rag"),
        sa.Index("ix_action_plan_due", "plan_id", "due_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    objective_id: int | None = Field(default=None, foreign_key="objective.id", index=True)
    theme_id: int | None = Field(default=None, foreign_key="theme.id", index=True)
    ref: str
    ref_key: str
    ref_as_written: str | None = None
    text: str
    subheading: str | None = None
    start_text: str | None = None
    start_date: date | None = None
    due_text: str | None = None  # as written: "Feb-15", "Ongoing", "31 December 2018"
    due_date: date | None = None  # parsed from due_text; None when it holds no date
    measures: str | None = None
    cost: str | None = None
    outcome: str | None = None
    source_line: int | None = None
    position: int = 0
    rag: str | None = None  # current RAG: red / amber / green / blue
    impact_rag: str | None = None
    rating_change: str | None = None  # up / down / same
    last_update_at: datetime | None = _when(default=None, nullable=True)


class ActionLead(SQLModel, table=True):
    """A lead of an action as written in the plan, linked to a Person later."""

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    name: str = Field(index=True)
    role: str = "lead"  # strategic / operational / lead
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    position: int = 0


class Person(SQLModel, table=True):
    """A person who leads actions or talks to the bot."""

    id: int | None = Field(default=None, primary_key=True)
    display_name: str
    aliases: str = ""  # names and initials as written in plans, "|"-separated ("SH|S Holt")
    teams_user_id: str | None = Field(default=None, unique=True)
    aad_object_id: str | None = Field(default=None, unique=True)
    email: str | None = Field(default=None, index=True)
    created_at: datetime = _when(default_factory=utcnow)


class StatusUpdate(SQLModel, table=True):
    """Append-only history of an action: one row per answer (card, chat) or import."""

    __table_args__ = (sa.Index("ix_update_action_at", "action_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id")
    at: datetime = _when(default_factory=utcnow)
    source: str  # import / card / chat
    by_person_id: int | None = Field(default=None, foreign_key="person.id")
    by_name: str | None = None
    rag: str | None = None
    rag_text: str | None = None  # as written, e.g. "RED"
    impact_rag: str | None = None
    rating_change: str | None = None
    progress: str | None = None
    evidence: str | None = None
    blockers: str | None = None
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
