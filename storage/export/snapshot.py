"""A plan as it stood at the end of a day: the one view every export format is built from.

The state of an action "as of" a date comes from its history (StatusUpdate rows up to the end of
that day, in the plan's time zone), never from the current cache, so a report for 31 March says
what was known on 31 March. Plan content (themes, objectives, actions, leads) is as stored now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action, ActionLead, Objective, Plan, StatusUpdate, Theme
from storage.rules import is_overdue, long_date, parse_rag


class ExportError(ValueError):
    """A request that cannot be exported (unknown plan, date out of range, empty plan)."""


@dataclass
class UpdateRow:
    """One entry of an action's history."""

    at: datetime
    by: str | None
    source: str
    rag: str | None
    impact_rag: str | None
    progress: str | None
    evidence: str | None
    blockers: str | None
    rating_change: str | None = None  # derived when it was recorded (storage/updates.py)
    corrective_action: str | None = None  # required with Red / Amber (issue 8)
    next_review: date | None = None  # when a Red / Amber will next be reviewed


@dataclass
class ObjectiveRow:
    ref: str
    theme: str | None
    text: str
    source: str | None
    outcome: str | None


@dataclass
class LeadRow:
    name: str
    role: str  # strategic / operational / lead


@dataclass
class ActionRow:
    """An action with its state as of the snapshot's date."""

    id: int
    ref: str
    objective_ref: str | None
    theme: str | None
    text: str
    leads: list[LeadRow]
    start: str | None
    due: str | None  # as written
    due_date: date | None
    measures: str | None
    rag: str | None  # as of the date
    impact_rag: str | None
    rating_change: str | None  # up / down / same, from history
    updates: list[UpdateRow] = field(default_factory=list)  # oldest first, up to the date

    @property
    def latest(self) -> UpdateRow | None:
        return self.updates[-1] if self.updates else None

    @property
    def last_update_at(self) -> datetime | None:
        return self.latest.at if self.latest else None

    def latest_with(self, name: str) -> str | None:
        """The newest non-empty value of an update field (progress, evidence, blockers)."""
        for update in reversed(self.updates):
            if getattr(update, name):
                return getattr(update, name)
        return None

    @property
    def corrective_action(self) -> str | None:
        """What is being done about a Red or Amber (none once it is Green or Blue)."""
        return self.latest_with("corrective_action") if self.rag in ("red", "amber") else None

    @property
    def next_review(self) -> date | None:
        """When a Red or Amber will next be reviewed (the latest date given while it is)."""
        if self.rag not in ("red", "amber"):
            return None
        return next((u.next_review for u in reversed(self.updates) if u.next_review), None)

    def rag_on(self, moment: datetime) -> str | None:
        """The RAG as it stood at `moment` (the latest update at or before it)."""
        rag = None
        for update in self.updates:
            if update.at > moment:
                break
            rag = update.rag
        return rag

    def overdue(self, today: date) -> bool:
        return is_overdue(self.due_date, parse_rag(self.rag), today)


@dataclass
class PlanSnapshot:
    plan_id: int
    name: str
    organisation: str | None
    as_of: date
    until: datetime  # the end of the as-of day, UTC
    timezone: str
    themes: list[str]
    objectives: list[ObjectiveRow]
    actions: list[ActionRow]

    def by_theme(self) -> dict[str | None, list[ActionRow]]:
        grouped: dict[str | None, list[ActionRow]] = {name: [] for name in self.themes}
        for action in self.actions:
            grouped.setdefault(action.theme, []).append(action)
        return grouped


def end_of_day(day: date, tz: str) -> datetime:
    """The last instant of a local day, in UTC."""
    local = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC) - timedelta(microseconds=1)


def parse_as_of(text: str | None, *, today: date) -> date:
    """--as-of YYYY-MM-DD (default today); a date in the future is refused."""
    if not text:
        return today
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ExportError(f"--as-of must be a date written YYYY-MM-DD, not {text!r}") from None
    if day > today:
        raise ExportError(f"--as-of {day.isoformat()} is in the future (today is "
                          f"{today.isoformat()}); a report can only say what was known")
    return day


async def snapshot(*, session: AsyncSession, plan: Plan, as_of: date,
                   tz: str = "Europe/London") -> PlanSnapshot:
    """The plan with every action's state and history up to the end of `as_of`."""
    until = end_of_day(as_of, tz)
    first = (await session.execute(select(func.min(StatusUpdate.at)).join(
        Action, Action.id == StatusUpdate.action_id).where(Action.plan_id == plan.id))).scalar()
    known_from = min(x for x in (plan.created_at, first) if x is not None)
    if until < known_from:  # worded for chat and the command line alike (no flag names)
        imported = known_from.astimezone(ZoneInfo(tz)).date()
        raise ExportError(f"{long_date(as_of)} is before the plan {plan.name!r} was imported "
                          f"({long_date(imported)}); there is nothing to report for that date")
    themes = list((await session.execute(select(Theme).where(Theme.plan_id == plan.id)
                                         .order_by(Theme.position, Theme.id))).scalars())
    theme_names = {theme.id: theme.name for theme in themes}
    objectives = list((await session.execute(select(Objective).where(
        Objective.plan_id == plan.id).order_by(Objective.position, Objective.id))).scalars())
    objective_refs = {objective.id: objective.ref for objective in objectives}
    actions = list((await session.execute(select(Action).where(Action.plan_id == plan.id)
                                          .order_by(Action.position, Action.id))).scalars())
    if not actions:
        raise ExportError(f"the plan {plan.name!r} has no actions to export")
    leads: dict[int, list[LeadRow]] = {}
    for lead in (await session.execute(select(ActionLead).join(
            Action, Action.id == ActionLead.action_id).where(Action.plan_id == plan.id)
            .order_by(ActionLead.action_id, ActionLead.position, ActionLead.id))).scalars():
        leads.setdefault(lead.action_id, []).append(LeadRow(lead.name, lead.role))
    history: dict[int, list[UpdateRow]] = {}
    for update in (await session.execute(select(StatusUpdate).join(
            Action, Action.id == StatusUpdate.action_id).where(
            Action.plan_id == plan.id, StatusUpdate.at <= until)
            .order_by(StatusUpdate.action_id, StatusUpdate.at, StatusUpdate.id))).scalars():
        history.setdefault(update.action_id, []).append(UpdateRow(
            at=update.at, by=update.by_name, source=update.source, rag=update.rag,
            impact_rag=update.impact_rag, progress=update.progress, evidence=update.evidence,
            blockers=update.blockers, rating_change=update.rating_change,
            corrective_action=update.corrective_action, next_review=update.next_review))
    rows = []
    for action in actions:
        updates = history.get(action.id, [])
        rows.append(ActionRow(
            id=action.id, ref=action.ref, objective_ref=objective_refs.get(action.objective_id),
            theme=theme_names.get(action.theme_id), text=action.text,
            leads=leads.get(action.id, []), start=action.start_text, due=action.due_text,
            due_date=action.due_date, measures=action.measures,
            rag=updates[-1].rag if updates else None,
            impact_rag=updates[-1].impact_rag if updates else None,
            rating_change=updates[-1].rating_change if updates else None, updates=updates))
    return PlanSnapshot(
        plan_id=plan.id, name=plan.name, organisation=plan.organisation, as_of=as_of,
        until=until, timezone=tz, themes=[theme.name for theme in themes],
        objectives=[ObjectiveRow(ref=o.ref, theme=theme_names.get(o.theme_id), text=o.text,
                                 source=o.source, outcome=o.outcome) for o in objectives],
        actions=rows)

