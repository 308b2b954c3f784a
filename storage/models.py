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
        return as_utc(value)


def as_utc(value: datetime | str | None) -> datetime | None:
    """A stored UTCDateTime as an aware datetime: what the driver gave (SQLite: naive, or the
    stored text when read without the column's type), aware in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(**kwargs) -> Field:
    return Field(sa_type=UTCDateTime, **kwargs)


class Plan(SQLModel, table=True):
    """An improvement plan (one council, one file imported)."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True, max_length=120)
    name: str = Field(index=True)  # questions name a plan: the planner starts from it
    organisation: str | None = None
    year: int | None = None
    layout: str | None = None
    source_file: str | None = None
    rag_scheme: str = "red,amber,green,blue"  # Blue = achieved and evidenced
    owner_person_id: int | None = Field(default=None, foreign_key="person.id")
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
    delegate_id: int | None = Field(default=None, foreign_key="person.id")
    away_until: date | None = None  # no check-in cards until after this day (leave, snooze)
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
    corrective_action: str | None = None  # with a Red or Amber: what is being done about it
    next_review: date | None = None  # with a Red or Amber: when it will next be reviewed
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)


class ConversationRef(SQLModel, table=True):
    """A stored Bot Framework conversation reference, for proactive messages."""

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(unique=True, max_length=400)
    kind: str = "personal"  # personal / channel / groupChat
    tenant_id: str | None = None
    service_url: str
    reference_json: str  # ConversationReference.serialize() as JSON
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    team_id: str | None = None
    aad_group_id: str | None = None  # the team's Microsoft 365 group (Graph's team id)
    name: str | None = None  # channel or chat name when known
    updated_at: datetime = _when(default_factory=utcnow)


class CheckinSchedule(SQLModel, table=True):
    """When a plan's weekly round, chasers and escalation happen (weekday + HH:MM, local)."""

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", unique=True)
    send_at: str = "MON 09:00"
    first_chaser_at: str = "WED 12:00"
    second_chaser_at: str = "THU 12:00"
    escalate_at: str = "FRI 09:00"
    timezone: str = "Europe/London"
    skip_bank_holidays: bool = True
    enabled: bool = True


class CheckinRound(SQLModel, table=True):
    """One weekly round of a plan; the period key makes it happen once per week."""

    __table_args__ = (sa.UniqueConstraint("plan_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    period: str  # ISO week, e.g. "2026-W48"
    started_at: datetime = _when(default_factory=utcnow)
    first_chaser_done: bool = False
    second_chaser_done: bool = False
    escalated: bool = False


class Checkin(SQLModel, table=True):
    """One lead's card in one round: which actions it asked about and whether it was answered."""

    __table_args__ = (sa.UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="checkinround.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token: str = Field(unique=True, max_length=64)  # opaque id carried in the card's data
    action_ids: str = ""  # comma-separated Action ids on the card
    status: str = "pending"  # pending / sent / answered / skipped
    conversation_id: str | None = None
    card_activity_id: str | None = None  # the sent card's id, to update it in place
    sent_at: datetime | None = _when(default=None, nullable=True)
    answered_at: datetime | None = _when(default=None, nullable=True)
    chasers_sent: int = 0


class Outbox(SQLModel, table=True):
    """Every proactive send, committed before it is sent: nothing lost, nothing sent twice."""

    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)  # (round, recipient, kind)
    kind: str  # checkin / chaser / escalation / digest / notice
    conversation_id: str = Field(max_length=400, index=True)
    activity_json: str  # the message to send (Bot Framework activity JSON)
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    status: str = "pending"  # pending / sending / sent / failed
    attempts: int = 0
    next_attempt_at: datetime = _when(default_factory=utcnow)
    lease_until: datetime | None = _when(default=None, nullable=True)
    last_error: str | None = None
    sent_activity_id: str | None = None
    created_at: datetime = _when(default_factory=utcnow)
    sent_at: datetime | None = _when(default=None, nullable=True)
    # When a send that may have reached Teams began (committed before the POST); cleared when
    # Teams' answer shows it did not arrive. Set on a row not yet sent: the outcome is unknown,
    # and the sender asks Microsoft Graph (when allowed) before sending it again.
    posted_at: datetime | None = _when(default=None, nullable=True)


class ChannelSubscription(SQLModel, table=True):
    """A Teams channel (or group chat) that gets the weekly digest card."""

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(unique=True, max_length=400)
    plan_id: int | None = Field(default=None, foreign_key="plan.id")  # None: every plan
    name: str | None = None
    send_at: str = "FRI 15:00"
    timezone: str = "Europe/London"
    created_by: str | None = None
    created_at: datetime = _when(default_factory=utcnow)


class Admin(SQLModel, table=True):
    """A plan admin added with `planbot admin add` (besides those in PLANBOT_ADMINS)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=320)  # email or AAD object id, lower case
    added_at: datetime = _when(default_factory=utcnow)


class ExportFile(SQLModel, table=True):
    """An export made in chat, kept for download at a signed URL until it expires (24 h)."""

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, max_length=64)  # random; part of the signed URL
    plan_id: int = Field(foreign_key="plan.id", index=True)
    format: str = Field(max_length=10)  # json / csv / xlsx / docx
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=120)
    content: bytes = Field(sa_type=sa.LargeBinary)
    as_of: date
    created_by: str | None = None
    created_at: datetime = _when(default_factory=utcnow)
    expires_at: datetime = _when()
