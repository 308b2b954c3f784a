"""Schedule maths for weekly check-in rounds: slots, ISO-week periods, bank holidays, due jobs.

Pure functions, no I/O. Every datetime is timezone-aware; instants are returned in UTC.

A plan's week (its *period*, ISO week "2026-W48" in the plan's zone) has four jobs: the round,
two chasers and an escalation. Rules for `due_jobs`:
- A job is due once its instant has passed and it has not been done; missed jobs fire once.
  A missed round fires while the week of its instant lasts, not after (no stale round on Monday).
- The *active* period runs from its round's instant until the next period's round instant.
- Chasers and escalation need their period's round to have started; a follow-up whose instant
  had already passed when the round started is skipped (no chasing a card sent a minute ago).
- A follow-up never falls after the next round (a holiday move stops there).
- A round started early (by hand) for a later period counts: its follow-ups fire on time.
- When the next round is due, the previous period's chasers are superseded; its pending
  escalation still fires once, ordered before the new round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

JobKind = Literal["round", "chaser1", "chaser2", "escalate"]

_DAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "weds": 2,
    "wednesday": 2, "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}
_DAY_NAMES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_SLOT = re.compile(r"^\s*([A-Za-z]+)\.?\s+(\d{1,2})[:.](\d{2})\s*$")
_PERIOD = re.compile(r"^(\d{4})-W(\d{2})$")
REGIONS = {
    "eng": "ENG", "england": "ENG", "sct": "SCT", "scotland": "SCT", "wls": "WLS",
    "wales": "WLS", "nir": "NIR", "ni": "NIR", "northern ireland": "NIR",
}


@dataclass(frozen=True, order=True)
class Slot:
    """A weekly moment in local time: weekday (0 = Monday) and hour:minute."""

    weekday: int
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{_DAY_NAMES[self.weekday]} {self.hour:02d}:{self.minute:02d}"


class Job(NamedTuple):
    """Something the scheduler should do now: which job, for which period, due since when."""

    kind: JobKind
    period: str
    at: datetime


@dataclass(frozen=True)
class RoundState:
    """What is done for a period; a CheckinRound row has the same attributes."""

    period: str
    first_chaser_done: bool = False
    second_chaser_done: bool = False
    escalated: bool = False
    started_at: datetime | None = None


class ScheduleLike(Protocol):
    """The CheckinSchedule attributes due_jobs reads (a `region` attribute is optional)."""

    send_at: str
    first_chaser_at: str
    second_chaser_at: str
    escalate_at: str
    timezone: str
    skip_bank_holidays: bool
    enabled: bool


class RoundLike(Protocol):
    """The CheckinRound attributes due_jobs reads (`started_at` is optional)."""

    period: str
    first_chaser_done: bool
    second_chaser_done: bool
    escalated: bool


def parse_slot(text: str) -> Slot:
    """Read "MON 09:00", "wed 12:00" or "Friday 15:30" into a Slot."""
    match = _SLOT.match(text or "")
    day = _DAYS.get(match[1].lower()) if match else None
    if match is None or day is None:
        raise ValueError(f"not a weekly slot: {text!r} (write a weekday and a time, 'MON 09:00')")
    hour, minute = int(match[2]), int(match[3])
    if hour > 23 or minute > 59:
        raise ValueError(f"not a time of day in {text!r}: use 00:00 to 23:59")
    return Slot(day, hour, minute)


def zone(tz: str) -> ZoneInfo:
    """The IANA zone named `tz`; ValueError when unknown."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone: {tz!r}") from error


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime given: {moment!r}; use timezone-aware datetimes")
    return moment


def period_of(moment: datetime, tz: str) -> str:
    """The ISO week key ("2026-W48") of a moment, read in the plan's zone."""
    year, week, _ = _aware(moment).astimezone(zone(tz)).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(period: str) -> date:
    """The Monday of an ISO week key; ValueError when the key or week does not exist."""
    match = _PERIOD.match(period or "")
    if not match:
        raise ValueError(f"not an ISO week: {period!r} (expected e.g. '2026-W48')")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as error:
        raise ValueError(f"no such ISO week: {period!r}") from error


def shift_period(period: str, weeks: int) -> str:
    """The ISO week `weeks` after (or before, when negative) a period."""
    year, week, _ = (week_start(period) + timedelta(weeks=weeks)).isocalendar()
    return f"{year}-W{week:02d}"


@lru_cache(maxsize=64)
def _bank_holidays(region: str, year: int) -> frozenset[date]:
    return frozenset(holidays.UK(subdiv=region, years=year))


def bank_holiday_region(region: str) -> str:
    """The UK subdivision code for a region name ("ENG", "Scotland", "NI"...)."""
    code = REGIONS.get((region or "").strip().lower())
    if code is None:
        raise ValueError(f"unknown bank holiday region: {region!r} (ENG, SCT, WLS or NIR)")
    return code


def is_bank_holiday(day: date, region: str = "ENG") -> bool:
    """True when the day is a bank holiday in the region (England by default)."""
    return day in _bank_holidays(bank_holiday_region(region), day.year)


def next_working_day(day: date, region: str = "ENG") -> date:
    """The day itself when it is not a bank holiday, else the next weekday that is not one."""
    if not is_bank_holiday(day, region):
        return day
    day += timedelta(days=1)
    while day.weekday() >= 5 or is_bank_holiday(day, region):
        day += timedelta(days=1)
    return day


def occurrence(
    slot: Slot, period: str, tz: str, *, skip_bank_holidays: bool, region: str = "ENG"
) -> datetime:
    """The UTC instant of a slot in an ISO week, local time in `tz`, moved past bank holidays."""
    day = week_start(period) + timedelta(days=slot.weekday)
    if skip_bank_holidays:
        day = next_working_day(day, region)
    local = datetime.combine(day, time(slot.hour, slot.minute), tzinfo=zone(tz))
    # A time skipped by the spring change (01:30) reads with the winter offset: 02:30 BST.
    # A time that happens twice in autumn is its first occurrence (fold=0).
    return local.astimezone(UTC)


class _Week:
    """The four instants of one period of a schedule."""

    KINDS: tuple[JobKind, ...] = ("round", "chaser1", "chaser2", "escalate")

    def __init__(self, schedule: ScheduleLike, period: str) -> None:
        self.period = period
        slots = [parse_slot(text) for text in (schedule.send_at, schedule.first_chaser_at,
                                               schedule.second_chaser_at, schedule.escalate_at)]
        region = getattr(schedule, "region", None) or "ENG"

        def at(slot: Slot, week: str) -> datetime:
            return occurrence(slot, week, schedule.timezone,
                              skip_bank_holidays=schedule.skip_bank_holidays, region=region)

        self.round_at = at(slots[0], period)
        following = shift_period(period, 1)
        next_round = at(slots[0], following)
        # A follow-up set earlier in the week than the round belongs to the following week.
        follow_ups = [at(slot, period if slot >= slots[0] else following) for slot in slots[1:]]
        self.at = dict(zip(self.KINDS, [self.round_at]
                           + [min(when, next_round) for when in follow_ups], strict=True))


def _pending(week: _Week, state: RoundLike, now: datetime, kinds) -> list[Job]:
    done = {"chaser1": state.first_chaser_done, "chaser2": state.second_chaser_done,
            "escalate": state.escalated}
    started = getattr(state, "started_at", None)
    return [Job(kind, week.period, week.at[kind]) for kind in kinds
            if not done[kind] and week.at[kind] <= now
            and (started is None or week.at[kind] >= started)]


def due_jobs(schedule: ScheduleLike, now: datetime, state: RoundLike | None) -> list[Job]:
    """The jobs that should have happened by `now` and have not, oldest first.

    `state` is the plan's latest round (a CheckinRound or RoundState), or None before the first.
    """
    if not schedule.enabled:
        return []
    now = _aware(now).astimezone(UTC)
    period = period_of(now, schedule.timezone)
    week = _Week(schedule, period)
    for _ in range(4):  # a holiday can push a round into the following week
        if week.round_at <= now:
            break
        week = _Week(schedule, shift_period(week.period, -1))
    else:
        return []
    jobs: list[Job] = []
    previous = shift_period(week.period, -1)
    if state is not None and week_start(state.period) >= week_start(week.period):
        # This period's round has started (or a later one was started early, by hand).
        jobs += _pending(_Week(schedule, state.period), state, now,
                         ("chaser1", "chaser2", "escalate"))
    else:
        if state is not None and state.period == previous:
            jobs += _pending(_Week(schedule, previous), state, now, ("escalate",))
        if period_of(week.round_at, schedule.timezone) == period_of(now, schedule.timezone):
            jobs.append(Job("round", week.period, week.round_at))
    order = {kind: index for index, kind in enumerate(_Week.KINDS)}
    return sorted(jobs, key=lambda job: (job.at, job.period, order[job.kind]))
