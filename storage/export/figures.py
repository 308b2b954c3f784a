"""The board report's figures: the period, what the database adds to the plan snapshot (the
period's check-ins), and the counts, changes and lists the report prints (analyse), following
the definitions printed in the report (storage/export/board.py DEFINITIONS)."""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.changes import rags_at_start, went_to, went_worse
from storage.export.snapshot import (
    ActionRow,
    ExportError,
    PlanSnapshot,
    end_of_day,
)
from storage.export.style import rag_key
from storage.models import Checkin, CheckinRound, Person, Plan
from storage.rules import Rag, is_overdue, parse_rag

STALE_DAYS = 21
NO_THEME = "Actions not under a theme"
RAG_KEYS = ("red", "amber", "green", "blue", "none")  # "none" = not rated


# --- Periods -------------------------------------------------------------------------------------


def months_back(day: date, months: int) -> date:
    """The same day `months` months earlier, or that month's last day when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Period:
    """This period is (start, as_of]; last period is (last_start, start]. Days are local."""

    as_of: date
    start: date  # exclusive: the same day a month earlier
    last_start: date  # exclusive: two months earlier
    tz: str

    @classmethod
    def ending(cls, as_of: date, tz: str) -> Period:
        return cls(as_of=as_of, start=months_back(as_of, 1), last_start=months_back(as_of, 2),
                   tz=tz)

    @property
    def first_day(self) -> date:
        return self.start + timedelta(days=1)

    @property
    def last_first_day(self) -> date:
        return self.last_start + timedelta(days=1)

    @property
    def until(self) -> datetime:
        """The end of the as-of day, UTC."""
        return end_of_day(self.as_of, self.tz)

    @property
    def last_until(self) -> datetime:
        """The end of last period (the end of the day this period starts from), UTC."""
        return end_of_day(self.start, self.tz)

    @property
    def begins(self) -> datetime:
        """The first instant of this period (the first day's midnight), UTC."""
        return self.last_until + timedelta(microseconds=1)


# --- What the database adds to the snapshot ------------------------------------------------------


@dataclass
class NonResponder:
    name: str
    asked: int  # check-ins sent to them in rounds of this period
    missed: int  # of which not answered by the as-of date
    undelivered: int  # of which the card could not be delivered (no Teams chat with them)
    rounds: list[str] = field(default_factory=list)  # the rounds missed ("2026-W48")


@dataclass
class BoardData:
    period: Period
    rounds: list[str]  # check-in rounds started within the period, oldest first
    asked: int  # people sent a check-in in those rounds
    non_responders: list[NonResponder]
    owner: str | None = None  # the plan owner's name, when set
    # Each action's RAG at the start of the period as storage/changes.py reads it (the plan's
    # import is the baseline, not a change): what "went worse" and "New Blue" compare with.
    at_start: dict[int, str | None] = field(default_factory=dict)


async def board_data(session: AsyncSession, snap: PlanSnapshot) -> BoardData:
    """The check-in rounds of the snapshot's period and who did not answer them."""
    period = Period.ending(snap.as_of, snap.timezone)
    rows = (await session.execute(
        select(CheckinRound.period, CheckinRound.started_at, Checkin.status, Checkin.answered_at,
               Person.id, Person.display_name)
        .join(Checkin, Checkin.round_id == CheckinRound.id)
        .join(Person, Person.id == Checkin.person_id)
        .where(CheckinRound.plan_id == snap.plan_id, CheckinRound.started_at > period.last_until,
               CheckinRound.started_at <= period.until)
        .order_by(CheckinRound.started_at, Person.display_name))).all()
    rounds = list((await session.execute(
        select(CheckinRound.period).where(
            CheckinRound.plan_id == snap.plan_id, CheckinRound.started_at > period.last_until,
            CheckinRound.started_at <= period.until).order_by(CheckinRound.started_at)))
        .scalars())
    people: dict[int, NonResponder] = {}
    for round_period, _, status, answered_at, person_id, name in rows:
        person = people.setdefault(person_id, NonResponder(name=name, asked=0, missed=0,
                                                           undelivered=0))
        person.asked += 1
        answered = status == "answered" and (answered_at is None or answered_at <= period.until)
        if not answered:
            person.missed += 1
            person.undelivered += status == "unreachable"
            person.rounds.append(round_period)
    owner = None
    plan = await session.get(Plan, snap.plan_id)
    if plan is not None and plan.owner_person_id is not None:
        person = await session.get(Person, plan.owner_person_id)
        owner = person.display_name if person else None
    missing = sorted((p for p in people.values() if p.missed),
                     key=lambda p: (-p.missed, p.name.lower()))
    return BoardData(period=period, rounds=rounds, asked=len(people), non_responders=missing,
                     owner=owner, at_start=await rags_at_start(session, snap.plan_id,
                                                               period.begins))


# --- The figures ---------------------------------------------------------------------------------


@dataclass
class ThemeFigures:
    name: str
    actions: list[ActionRow]
    now: Counter  # rag key -> count at the as-of date
    last: Counter  # rag key -> count at the end of last period
    direction: str  # Better / Worse / Same / Not comparable / No actions
    red_amber: list[ActionRow]  # Red first, then Amber, each in plan order

    @property
    def total(self) -> int:
        return len(self.actions)

    def share(self, counts: Counter) -> float:
        return (counts["red"] + counts["amber"]) / self.total if self.total else 0.0


@dataclass
class Change:
    """An action whose rating changed between the end of last period and the as-of date."""

    action: ActionRow
    theme: str
    was: str | None
    now: str | None
    since: datetime | None  # when it took its current rating


@dataclass
class Stale:
    action: ActionRow
    theme: str
    last: datetime | None
    days: int | None  # whole days since the last update; None when never updated


@dataclass
class Board:
    snap: PlanSnapshot
    data: BoardData
    themes: list[ThemeFigures]
    worse: list[Change]
    new_blue: list[Change]
    overdue: list[tuple[ActionRow, str]]
    stale: list[Stale]
    has_last: bool  # any history at the end of last period (False: imported since)
    overdue_last: int  # overdue at the end of last period
    stale_last: int  # no update for 3 weeks or more at the end of last period

    @property
    def period(self) -> Period:
        return self.data.period

    def totals(self, which: str) -> Counter:
        total: Counter = Counter()
        for theme in self.themes:
            total.update(getattr(theme, which))
        return total


def direction(now: Counter, last: Counter, total: int) -> str:
    if not total:
        return "No actions"
    if sum(last[key] for key in RAG_KEYS if key != "none") == 0:
        return "Not comparable"
    before, after = last["red"] + last["amber"], now["red"] + now["amber"]
    return "Better" if after < before else "Worse" if after > before else "Same"


def _since(action: ActionRow) -> datetime | None:
    """When the action took its current rating (the first of the latest run of that rating)."""
    since = None
    for update in reversed(action.updates):
        if rag_key(update.rag) != rag_key(action.rag):
            break
        since = update.at
    return since


def analyse(snap: PlanSnapshot, data: BoardData) -> Board:
    """Every figure of the report, from the snapshot and the period's check-ins."""
    if not snap.actions:
        raise ExportError(f"the plan {snap.name!r} has no actions to report on")
    period = data.period
    themes, worse, new_blue, overdue, stale = [], [], [], [], []
    # As the ask pipeline counts it: stale when nothing was recorded from the start of the day
    # 21 days before the as-of day (an update exactly 3 weeks before still counts as recent).
    stale_from = end_of_day(snap.as_of - timedelta(days=STALE_DAYS + 1), snap.timezone)
    stale_from_last = end_of_day(period.start - timedelta(days=STALE_DAYS + 1), snap.timezone)
    overdue_last = stale_last = 0
    for name, actions in snap.by_theme().items():
        label = name or NO_THEME
        if name is None and not actions:
            continue
        now = Counter(rag_key(action.rag) for action in actions)
        last = Counter(rag_key(action.rag_on(period.last_until)) for action in actions)
        red_amber = ([a for a in actions if rag_key(a.rag) == "red"]
                     + [a for a in actions if rag_key(a.rag) == "amber"])
        themes.append(ThemeFigures(name=label, actions=actions, now=now, last=last,
                                   direction=direction(now, last, len(actions)),
                                   red_amber=red_amber))
        for action in actions:
            then_rag = action.rag_on(period.last_until)
            was = data.at_start.get(action.id, then_rag)  # (the history, for data made by hand)
            current = action.rag
            if went_worse(was, current):
                worse.append(Change(action, label, was, current, _since(action)))
            if went_to(Rag.BLUE, was, current):
                new_blue.append(Change(action, label, was, current, _since(action)))
            if action.overdue(snap.as_of):
                overdue.append((action, label))
            if rag_key(current) != "blue" and (action.last_update_at is None
                                               or action.last_update_at <= stale_from):
                days = None
                if action.last_update_at is not None:
                    last_day = action.last_update_at.astimezone(ZoneInfo(snap.timezone)).date()
                    days = (snap.as_of - last_day).days
                stale.append(Stale(action, label, action.last_update_at, days))
            then = [update.at for update in action.updates if update.at <= period.last_until]
            overdue_last += is_overdue(action.due_date, parse_rag(then_rag), period.start)
            stale_last += rag_key(then_rag) != "blue" and (not then or then[-1] <= stale_from_last)
    has_last = any(update.at <= period.last_until for action in snap.actions
                   for update in action.updates)
    return Board(snap=snap, data=data, themes=themes, worse=worse, new_blue=new_blue,
                 overdue=overdue, stale=stale, has_last=has_last, overdue_last=overdue_last,
                 stale_last=stale_last)

