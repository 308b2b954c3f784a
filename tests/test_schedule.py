"""Schedule maths: slots, ISO weeks, DST, bank holidays, year ends and due jobs."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from storage.schedule import (
    Job,
    RoundState,
    Slot,
    due_jobs,
    is_bank_holiday,
    occurrence,
    parse_slot,
    period_of,
    shift_period,
    week_start,
)

LONDON = "Europe/London"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def schedule(**changes) -> SimpleNamespace:
    values = dict(send_at="MON 09:00", first_chaser_at="WED 12:00", second_chaser_at="THU 12:00",
                  escalate_at="FRI 09:00", timezone=LONDON, skip_bank_holidays=True, enabled=True)
    return SimpleNamespace(**(values | changes))


# --- Slots ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "slot"), [
    ("MON 09:00", Slot(0, 9, 0)),
    ("wed 12:00", Slot(2, 12, 0)),
    ("Friday 15:30", Slot(4, 15, 30)),
    ("  thu 9:05 ", Slot(3, 9, 5)),
    ("Tues 07.45", Slot(1, 7, 45)),
    ("SUN 23:59", Slot(6, 23, 59)),
    ("sat 00:00", Slot(5, 0, 0)),
])
def test_parse_slot(text, slot):
    assert parse_slot(text) == slot
    assert parse_slot(str(slot)) == slot


@pytest.mark.parametrize("text", [
    "", "MON", "09:00", "Funday 09:00", "MON 24:00", "MON 09:60", "MON 9", "MON09:00",
    "MON 09:00 GMT", "1 09:00",
])
def test_parse_slot_refuses_with_the_text(text):
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_slot(text)


def test_slot_prints_as_written_in_the_schedule():
    assert str(parse_slot("friday 9:30")) == "FRI 09:30"


# --- Periods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("moment", "tz", "period"), [
    (utc(2026, 11, 25, 9), LONDON, "2026-W48"),
    (utc(2026, 12, 31, 12), LONDON, "2026-W53"),
    (utc(2027, 1, 1, 12), LONDON, "2026-W53"),
    (utc(2027, 1, 3, 23, 59), LONDON, "2026-W53"),
    (utc(2027, 1, 4, 0, 0), LONDON, "2027-W01"),
    (utc(2025, 12, 29, 9), LONDON, "2026-W01"),
    (utc(2027, 12, 31, 9), LONDON, "2027-W52"),
    # Sunday 23:30 UTC is already Monday 00:30 in summer time
    (utc(2026, 3, 29, 23, 30), LONDON, "2026-W14"),
    (utc(2026, 6, 28, 23, 30), LONDON, "2026-W27"),
    (utc(2026, 6, 28, 23, 30), "UTC", "2026-W26"),
    # after the October change London is on UTC again
    (utc(2026, 10, 25, 23, 30), LONDON, "2026-W43"),
    (utc(2026, 11, 23, 3), "America/New_York", "2026-W47"),
    (datetime(2026, 11, 23, 0, 30, tzinfo=ZoneInfo(LONDON)), "UTC", "2026-W48"),
])
def test_period_of(moment, tz, period):
    assert period_of(moment, tz) == period


def test_period_of_refuses_naive_times_and_unknown_zones():
    with pytest.raises(ValueError, match="naive"):
        period_of(datetime(2026, 11, 25, 9), LONDON)  # noqa: DTZ001
    with pytest.raises(ValueError, match="Mars/Olympus"):
        period_of(utc(2026, 11, 25), "Mars/Olympus")


@pytest.mark.parametrize(("period", "weeks", "expected"), [
    ("2026-W52", 1, "2026-W53"),
    ("2026-W53", 1, "2027-W01"),
    ("2027-W01", -1, "2026-W53"),
    ("2025-W52", 1, "2026-W01"),
    ("2026-W48", 0, "2026-W48"),
    ("2026-W01", -1, "2025-W52"),
])
def test_shift_period_across_year_ends(period, weeks, expected):
    assert shift_period(period, weeks) == expected


@pytest.mark.parametrize("period", ["2027-W53", "2026-W00", "2026-48", "W48", "2026-W4"])
def test_week_start_refuses_weeks_that_do_not_exist(period):
    with pytest.raises(ValueError, match=period):
        week_start(period)


# --- Occurrences ------------------------------------------------------------------------------


@pytest.mark.parametrize(("slot", "period", "expected"), [
    ("MON 09:00", "2026-W48", utc(2026, 11, 23, 9)),  # GMT
    ("MON 09:00", "2026-W27", utc(2026, 6, 29, 8)),  # BST
    # spring change, Sunday 29 March 2026
    ("SAT 09:00", "2026-W13", utc(2026, 3, 28, 9)),
    ("SUN 00:30", "2026-W13", utc(2026, 3, 29, 0, 30)),
    ("SUN 01:30", "2026-W13", utc(2026, 3, 29, 1, 30)),  # does not exist: read as 02:30 BST
    ("SUN 09:00", "2026-W13", utc(2026, 3, 29, 8)),
    ("MON 09:00", "2026-W14", utc(2026, 3, 30, 8)),
    # autumn change, Sunday 25 October 2026
    ("SAT 09:00", "2026-W43", utc(2026, 10, 24, 8)),
    ("SUN 01:30", "2026-W43", utc(2026, 10, 25, 0, 30)),  # happens twice: the first one
    ("SUN 09:00", "2026-W43", utc(2026, 10, 25, 9)),
    ("MON 09:00", "2026-W44", utc(2026, 10, 26, 9)),
    # bank holidays in England
    ("FRI 09:00", "2026-W52", utc(2026, 12, 29, 9)),  # Christmas Friday, Boxing Day Monday
    ("MON 09:00", "2026-W53", utc(2026, 12, 29, 9)),  # Boxing Day (substitute)
    ("THU 12:00", "2026-W53", utc(2026, 12, 31, 12)),
    ("FRI 09:00", "2026-W53", utc(2027, 1, 4, 9)),  # New Year's Day 2027 is in 2026-W53
    ("MON 09:00", "2027-W13", utc(2027, 3, 30, 8)),  # Easter Monday -> Tuesday, BST
    ("FRI 09:00", "2027-W12", utc(2027, 3, 30, 8)),  # Good Friday GMT -> Tuesday BST
    ("MON 09:00", "2026-W22", utc(2026, 5, 26, 8)),  # Spring bank holiday
    ("MON 09:00", "2027-W22", utc(2027, 6, 1, 8)),
    ("MON 09:00", "2026-W36", utc(2026, 9, 1, 8)),  # Late summer bank holiday
    ("MON 09:00", "2027-W52", utc(2027, 12, 29, 9)),  # Christmas and Boxing Day substitutes
    ("SAT 10:00", "2026-W48", utc(2026, 11, 28, 10)),  # a weekend slot that is no holiday
    ("SAT 10:00", "2026-W52", utc(2026, 12, 29, 10)),  # Boxing Day on the Saturday
    ("TUE 09:00", "2026-W12", utc(2026, 3, 17, 9)),  # St Patrick's Day is no holiday here
])
def test_occurrence_in_england(slot, period, expected):
    at = occurrence(parse_slot(slot), period, LONDON, skip_bank_holidays=True)
    assert at == expected and at.tzinfo is UTC


@pytest.mark.parametrize(("slot", "period", "region", "expected"), [
    ("FRI 09:00", "2026-W53", "SCT", utc(2027, 1, 5, 9)),  # 1, 2 (-> 4) January
    ("MON 09:00", "2026-W49", "SCT", utc(2026, 12, 1, 9)),  # St Andrew's Day
    ("MON 09:00", "2026-W49", "ENG", utc(2026, 11, 30, 9)),
    ("MON 09:00", "2026-W36", "Scotland", utc(2026, 8, 31, 8)),  # no late summer holiday
    ("MON 09:00", "2026-W32", "SCT", utc(2026, 8, 4, 8)),  # first Monday of August
    ("TUE 09:00", "2026-W12", "NIR", utc(2026, 3, 18, 9)),  # St Patrick's Day
    ("MON 09:00", "2026-W29", "Northern Ireland", utc(2026, 7, 14, 8)),  # the Twelfth (sub)
    ("MON 09:00", "2027-W13", "WLS", utc(2027, 3, 30, 8)),
])
def test_occurrence_in_other_nations(slot, period, region, expected):
    at = occurrence(parse_slot(slot), period, LONDON, skip_bank_holidays=True, region=region)
    assert at == expected


def test_occurrence_keeps_holidays_when_not_skipping():
    assert occurrence(parse_slot("FRI 09:00"), "2026-W52", LONDON,
                      skip_bank_holidays=False) == utc(2026, 12, 25, 9)
    assert occurrence(parse_slot("MON 09:00"), "2027-W13", LONDON,
                      skip_bank_holidays=False) == utc(2027, 3, 29, 8)


def test_occurrence_refuses_unknown_regions_and_weeks():
    with pytest.raises(ValueError, match="Narnia"):
        occurrence(parse_slot("MON 09:00"), "2026-W48", LONDON, skip_bank_holidays=True,
                   region="Narnia")
    with pytest.raises(ValueError, match="2027-W53"):
        occurrence(parse_slot("MON 09:00"), "2027-W53", LONDON, skip_bank_holidays=True)


# --- Due jobs ---------------------------------------------------------------------------------

W47, W48 = "2026-W47", "2026-W48"
DONE = dict(first_chaser_done=True, second_chaser_done=True, escalated=True)
C1 = dict(first_chaser_done=True)
C12 = dict(first_chaser_done=True, second_chaser_done=True)


@pytest.mark.parametrize(("now", "state", "expected"), [
    # 2026-W48: round Mon 23 Nov 09:00, chasers Wed 12:00 / Thu 12:00, escalation Fri 09:00
    (utc(2026, 11, 23, 8, 59), RoundState(W47, **DONE), []),
    (utc(2026, 11, 23, 8, 59), RoundState(W47, **C12), [("escalate", W47)]),
    (utc(2026, 11, 23, 9), RoundState(W47, **DONE), [("round", W48)]),
    (utc(2026, 11, 23, 9), None, [("round", W48)]),
    (utc(2026, 11, 23, 10), RoundState(W47, **C12), [("escalate", W47), ("round", W48)]),
    (utc(2026, 11, 23, 10), RoundState(W47, escalated=True), [("round", W48)]),  # superseded
    (utc(2026, 11, 23, 10), RoundState("2026-W45"), [("round", W48)]),
    (utc(2026, 11, 23, 10), RoundState(W48), []),
    (utc(2026, 11, 25, 11, 59), RoundState(W48), []),
    (utc(2026, 11, 25, 12), RoundState(W48), [("chaser1", W48)]),
    (utc(2026, 11, 25, 12), RoundState(W48, **C1), []),
    (utc(2026, 11, 26, 13), RoundState(W48), [("chaser1", W48), ("chaser2", W48)]),
    (utc(2026, 11, 26, 13), RoundState(W48, **C1), [("chaser2", W48)]),
    (utc(2026, 11, 27, 8, 59), RoundState(W48, **C12), []),
    (utc(2026, 11, 27, 9), RoundState(W48, **C12), [("escalate", W48)]),
    (utc(2026, 11, 27, 9), RoundState(W48),
     [("chaser1", W48), ("chaser2", W48), ("escalate", W48)]),
    (utc(2026, 11, 29, 23), RoundState(W48, **DONE), []),
    # a round missed all week still fires once; its chasers need it to start first
    (utc(2026, 11, 27, 10), None, [("round", W48)]),
    (utc(2026, 11, 26, 13), RoundState(W47, **DONE), [("round", W48)]),
    (utc(2026, 11, 29, 23), RoundState(W47, **DONE), [("round", W48)]),
    # ... but not once its week is over: no stale round just before the next one
    (utc(2026, 11, 23, 8), RoundState("2026-W46", **DONE), []),
    (utc(2026, 11, 23, 8), None, []),
    # a round started late skips the follow-ups whose time had already passed
    (utc(2026, 11, 26, 13), RoundState(W48, started_at=utc(2026, 11, 26, 10)),
     [("chaser2", W48)]),
    (utc(2026, 11, 27, 9), RoundState(W48, started_at=utc(2026, 11, 27, 9)),
     [("escalate", W48)]),
    # a round started early by hand counts for its week
    (utc(2026, 11, 22, 12), RoundState(W48, started_at=utc(2026, 11, 22, 11)), []),
    (utc(2026, 11, 25, 12), RoundState(W48, started_at=utc(2026, 11, 22, 11)),
     [("chaser1", W48)]),
])
def test_due_jobs_through_a_week(now, state, expected):
    jobs = due_jobs(schedule(), now, state)
    assert [(job.kind, job.period) for job in jobs] == expected
    assert all(job.at <= now for job in jobs)


@pytest.mark.parametrize(("now", "state", "expected"), [
    # Easter 2027: escalation on Good Friday and the round on Easter Monday move to Tuesday
    (utc(2027, 3, 26, 10), RoundState("2027-W12", **C12), []),
    (utc(2027, 3, 29, 10), RoundState("2027-W12", **C12), []),
    (utc(2027, 3, 30, 8), RoundState("2027-W12", **C12),
     [("escalate", "2027-W12", utc(2027, 3, 30, 8)), ("round", "2027-W13", utc(2027, 3, 30, 8))]),
    # Christmas on a Friday, Boxing Day substitute on the Monday; then New Year's Day
    (utc(2026, 12, 28, 12), RoundState("2026-W52", **C12), []),
    (utc(2026, 12, 29, 9), RoundState("2026-W52", **C12),
     [("escalate", "2026-W52", utc(2026, 12, 29, 9)), ("round", "2026-W53", utc(2026, 12, 29, 9))]),
    (utc(2026, 12, 30, 12), RoundState("2026-W53"),
     [("chaser1", "2026-W53", utc(2026, 12, 30, 12))]),
    (utc(2027, 1, 1, 10), RoundState("2026-W53", **C12), []),
    (utc(2027, 1, 4, 9), RoundState("2026-W53", **C12),
     [("escalate", "2026-W53", utc(2027, 1, 4, 9)), ("round", "2027-W01", utc(2027, 1, 4, 9))]),
    # Spring bank holiday: the round waits for Tuesday (BST)
    (utc(2026, 5, 25, 10), RoundState("2026-W21", **DONE), []),
    (utc(2026, 5, 26, 8), RoundState("2026-W21", **DONE),
     [("round", "2026-W22", utc(2026, 5, 26, 8))]),
    # clocks change: 09:00 local is 08:00 UTC in summer, 09:00 UTC in winter
    (utc(2026, 3, 30, 7, 59), RoundState("2026-W13", **DONE), []),
    (utc(2026, 3, 30, 8), RoundState("2026-W13", **DONE),
     [("round", "2026-W14", utc(2026, 3, 30, 8))]),
    (utc(2026, 10, 26, 8, 30), RoundState("2026-W43", **DONE), []),
    (utc(2026, 10, 26, 9), RoundState("2026-W43", **DONE),
     [("round", "2026-W44", utc(2026, 10, 26, 9))]),
])
def test_due_jobs_around_holidays_and_clock_changes(now, state, expected):
    assert [tuple(job) for job in due_jobs(schedule(), now, state)] == expected


def test_due_jobs_with_a_round_pushed_into_the_next_week():
    friday = schedule(send_at="FRI 09:00", first_chaser_at="MON 12:00",
                      second_chaser_at="TUE 12:00", escalate_at="WED 09:00")
    assert due_jobs(friday, utc(2027, 3, 29, 10), RoundState("2027-W11", **DONE)) == []
    assert due_jobs(friday, utc(2027, 3, 30, 8), RoundState("2027-W11", **DONE)) == [
        Job("round", "2027-W12", utc(2027, 3, 30, 8))]
    started = RoundState("2027-W12", started_at=utc(2027, 3, 30, 8))
    assert due_jobs(friday, utc(2027, 3, 30, 11), started) == [
        Job("chaser1", "2027-W12", utc(2027, 3, 30, 11)),
        Job("chaser2", "2027-W12", utc(2027, 3, 30, 11))]
    assert due_jobs(friday, utc(2027, 3, 31, 8), replace(started, **C12)) == [
        Job("escalate", "2027-W12", utc(2027, 3, 31, 8))]


def test_due_jobs_reads_the_region_and_the_switches():
    scottish = schedule(region="SCT")
    state = RoundState("2026-W53", **DONE)
    assert due_jobs(scottish, utc(2027, 1, 4, 9), state) == []
    assert due_jobs(scottish, utc(2027, 1, 5, 9), state) == [
        Job("round", "2027-W01", utc(2027, 1, 5, 9))]
    assert due_jobs(schedule(enabled=False), utc(2026, 11, 23, 10), None) == []
    assert due_jobs(schedule(skip_bank_holidays=False), utc(2027, 3, 29, 8), None) == [
        Job("round", "2027-W13", utc(2027, 3, 29, 8))]
    with pytest.raises(ValueError, match="naive"):
        due_jobs(schedule(), datetime(2026, 11, 23, 10), None)  # noqa: DTZ001


def _run(plan_schedule, start: datetime, end: datetime,
         step: timedelta) -> list[tuple[Job, datetime]]:
    """Tick a scheduler that applies every due job at once; return (job, when it ran)."""
    state: RoundState | None = None
    fired: list[tuple[Job, datetime]] = []
    now = start
    while now < end:
        for job in due_jobs(plan_schedule, now, state):
            fired.append((job, now))
            if job.kind == "round":
                state = RoundState(job.period, started_at=now)
            else:
                assert state is not None and state.period == job.period
                done = {"chaser1": "first_chaser_done", "chaser2": "second_chaser_done",
                        "escalate": "escalated"}[job.kind]
                state = replace(state, **{done: True})
        now += step
    return fired


@pytest.mark.parametrize("plan_schedule", [
    schedule(),
    schedule(region="SCT"),
    schedule(send_at="FRI 09:00", first_chaser_at="MON 12:00", second_chaser_at="TUE 12:00",
             escalate_at="WED 09:00"),
])
def test_a_year_of_hourly_ticks_runs_every_job_once_in_order(plan_schedule):
    start, end = utc(2026, 3, 2), utc(2027, 4, 12)
    fired = _run(plan_schedule, start, end, timedelta(hours=1))
    by_period: dict[str, list[str]] = {}
    for job, ran in fired:
        assert job.at <= ran < job.at + timedelta(hours=1)
        by_period.setdefault(job.period, []).append(job.kind)
    region = getattr(plan_schedule, "region", "ENG")
    rounds = [job.at for job, _ in fired if job.kind == "round"]
    for at in rounds:
        local = at.astimezone(ZoneInfo(LONDON))
        assert local.strftime("%H:%M") == "09:00" and local.weekday() < 5
        assert not is_bank_holiday(local.date(), region)
    periods = sorted(by_period)
    assert len(periods) >= 56
    for period in periods[1:-2]:
        assert by_period[period] == ["round", "chaser1", "chaser2", "escalate"], period
