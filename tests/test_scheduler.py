"""The scheduler over a week of Europe/London time: rounds, chasers and escalation queued once each,
in the round's transaction, on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

import dialogs.checkin as checkin_module
from bot.scheduler import Scheduler
from dialogs.checkin import start_round
from storage.db import make_engine, session_factory
from storage.importers.registry import read_plan_file
from storage.models import Action, Checkin, CheckinRound, CheckinSchedule, Outbox, Person, Plan
from storage.outbox import save_reference
from storage.people import link_lead, upsert_person
from storage.plans import save_draft

PLAN_FILE = (Path(__file__).resolve().parent.parent / "storage" / "demo"
             / "manchester-improvement-plan-2015-rag.txt")
SLUG = "manchester-childrens-services-improvement-plan-2015"
LONDON = ZoneInfo("Europe/London")
W48 = "2026-W48"  # Monday 23 November 2026, GMT


def london(*args: int) -> datetime:
    """A Europe/London wall-clock time as a UTC instant."""
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    sessions: object
    plan_id: int
    ids: dict[str, int]  # display name -> person id
    chats: dict[str, str]  # display name -> personal conversation id

    def scheduler(self, now: datetime, sessions=None) -> tuple[Scheduler, Clock]:
        clock = Clock(now)
        return Scheduler(sessions or self.sessions, clock), clock

    async def outbox(self) -> list[tuple[str, str, str, datetime]]:
        async with self.sessions() as session:
            rows = (await session.execute(select(Outbox))).scalars()
            return sorted((r.kind, r.conversation_id, r.idempotency_key, r.created_at)
                          for r in rows)

    async def round_id(self, period: str = W48) -> int:
        async with self.sessions() as session:
            return (await session.execute(select(CheckinRound.id).where(
                CheckinRound.period == period))).scalar_one()

    async def count(self, model) -> int:
        async with self.sessions() as session:
            return (await session.execute(select(func.count()).select_from(model))).scalar_one()

    async def checkins(self) -> dict[str, Checkin]:
        async with self.sessions() as session:
            rows = (await session.execute(select(Person.display_name, Checkin).join(
                Person, Person.id == Checkin.person_id))).all()
            return dict(rows)

    async def change_person(self, name: str, **values) -> None:
        async with self.sessions() as session, session.begin():
            person = await session.get(Person, self.ids[name])
            for key, value in values.items():
                setattr(person, key, value)

    def cards(self, rid: int, kind: str, names: list[str], at: datetime):
        """The Outbox rows expected for a step: one per name, keyed per round and person."""
        return [("checkin" if kind == "checkin" else "chaser", self.chats[name],
                 f"{kind}:{rid}:{self.ids[name]}", at) for name in names]


@pytest.fixture
async def world(sessions) -> World:
    """The Manchester plan; Karen and Lana are linked leads, Sam owns the plan; all installed."""
    setup = datetime(2026, 11, 1, tzinfo=UTC)
    ids, chats = {}, {}
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, now=setup, draft=read_plan_file(PLAN_FILE))
        for number, name in enumerate(("Karen Dolton", "Lana Shannon", "Sam Owner")):
            person = await upsert_person(session=session, display_name=name,
                                         teams_user_id=f"29:user-{number}",
                                         aad_object_id=f"aad-{number}", email=None, now=setup)
            chats[name] = f"a:personal-{number}"
            ids[name] = person.id
            await save_reference(session=session, conversation_id=chats[name], kind="personal",
                                 service_url="https://smba.example/", reference_json="{}",
                                 now=setup, person_id=person.id)
            if name != "Sam Owner":
                assert await link_lead(session=session, lead=name, person=person) > 0
        report.plan.owner_person_id = ids["Sam Owner"]
        assert report.plan.slug == SLUG
    return World(sessions, report.plan.id, ids, chats)


async def test_one_week_round_chasers_and_escalation_each_once(world):
    scheduler, clock = world.scheduler(london(2026, 11, 23, 8, 59))
    assert await scheduler.tick() == [] and await world.outbox() == []

    clock.now = monday = london(2026, 11, 23, 9, 0, 30)
    assert await scheduler.tick() == [f"{SLUG}: round {W48}, 2 cards"]
    rid = await world.round_id()
    expected = world.cards(rid, "checkin", ["Karen Dolton", "Lana Shannon"], monday)
    assert await world.outbox() == sorted(expected)
    checkins = await world.checkins()
    assert {name: c.conversation_id for name, c in checkins.items()} == {
        "Karen Dolton": world.chats["Karen Dolton"], "Lana Shannon": world.chats["Lana Shannon"]}

    async with world.sessions() as session, session.begin():  # Karen answers
        karen = await session.get(Checkin, checkins["Karen Dolton"].id)
        karen.status = "answered"

    steps = [(london(2026, 11, 25, 12, 1), "chaser1"), (london(2026, 11, 26, 12, 1), "chaser2"),
             (london(2026, 11, 27, 9, 1), "escalate")]
    for before, (at, job) in zip([monday, *[s[0] for s in steps[:-1]]], steps, strict=True):
        clock.now = before
        assert await scheduler.tick() == [] and await world.outbox() == sorted(expected)
        clock.now = at - timedelta(minutes=2)
        assert await scheduler.tick() == []  # just before the job: nothing
        clock.now = at
        assert await scheduler.tick() == [f"{SLUG}: {job} {W48}"]
        if job == "escalate":
            expected += [("escalation", world.chats["Sam Owner"], f"escalate:{rid}", at)]
        else:
            expected += world.cards(rid, job, ["Lana Shannon"], at)  # Karen answered
        assert await world.outbox() == sorted(expected)
        assert await scheduler.tick() == [] and await world.outbox() == sorted(expected)

    async with world.sessions() as session:
        escalation = (await session.execute(select(Outbox.activity_json).where(
            Outbox.kind == "escalation"))).scalar_one()
    assert "Lana Shannon" in escalation and "Karen Dolton" not in escalation
    assert (await world.checkins())["Lana Shannon"].chasers_sent == 2
    clock.now = london(2026, 11, 29, 23, 59)  # the rest of the week: nothing
    assert await scheduler.tick() == [] and await world.outbox() == sorted(expected)


async def test_default_schedule_per_plan_and_a_disabled_one_does_nothing(world):
    async with world.sessions() as session, session.begin():
        other = Plan(slug="other", name="Other plan")
        session.add(other)
    scheduler, clock = world.scheduler(london(2026, 11, 23, 8, 0))
    assert await scheduler.tick() == []
    async with world.sessions() as session, session.begin():
        schedules = (await session.execute(select(CheckinSchedule))).scalars().all()
        assert sorted(s.plan_id for s in schedules) == sorted([world.plan_id, other.id])
        for row in schedules:
            assert (row.send_at, row.first_chaser_at, row.second_chaser_at, row.escalate_at,
                    row.timezone, row.skip_bank_holidays, row.enabled) == (
                "MON 09:00", "WED 12:00", "THU 12:00", "FRI 09:00", "Europe/London", True, True)
            row.enabled = row.plan_id != world.plan_id  # Manchester's schedule is switched off
    done = []
    for at in (london(2026, 11, 23, 9, 1), london(2026, 11, 25, 12, 1),
               london(2026, 11, 26, 12, 1), london(2026, 11, 27, 9, 1)):
        clock.now = at
        done += await scheduler.tick()
    assert done == [f"other: round {W48}, 0 cards", f"other: chaser1 {W48}",
                    f"other: chaser2 {W48}",
                    f"other: escalate {W48} skipped: the plan has no owner the bot can reach "
                    "('make me plan owner')"]  # no leads, no owner
    assert await world.outbox() == [] and await world.count(Checkin) == 0
    async with world.sessions() as session:
        assert (await session.execute(select(CheckinRound.plan_id))).scalars().all() == [other.id]


@pytest.mark.parametrize(("period", "quiet", "round_at"), [
    (W48, [london(2026, 11, 23, 8, 59)], datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)),  # GMT
    ("2027-W14", [london(2027, 4, 5, 8, 59)],
     datetime(2027, 4, 5, 8, 0, 30, tzinfo=UTC)),  # BST: 09:00 local is 08:00 UTC
    # Easter Monday 2027 (29 March, the day after the clocks change): Tuesday 09:00 BST.
    ("2027-W13", [london(2027, 3, 29, 9, 0, 30), london(2027, 3, 29, 23, 0),
                  london(2027, 3, 30, 8, 59)], datetime(2027, 3, 30, 8, 0, 30, tzinfo=UTC)),
])
async def test_round_at_nine_local_in_gmt_bst_and_after_a_bank_holiday(world, period, quiet,
                                                                       round_at):
    scheduler, clock = world.scheduler(round_at)
    for clock.now in quiet:
        assert await scheduler.tick() == [], clock.now
    clock.now = round_at
    assert await scheduler.tick() == [f"{SLUG}: round {period}, 2 cards"]
    assert round_at.astimezone(LONDON).hour == 9
    async with world.sessions() as session:
        started = (await session.execute(select(CheckinRound.started_at))).scalar_one()
    assert started == round_at
    assert [row[3] for row in await world.outbox()] == [round_at, round_at]


async def test_crash_mid_round_stores_nothing_then_the_next_tick_does_it_once(world, monkeypatch,
                                                                              caplog):
    real, calls = checkin_module.enqueue, []

    async def crash_on_second_card(**kwargs):
        calls.append(kwargs["key"])
        if len(calls) == 2:
            raise RuntimeError("process died between two cards")
        return await real(**kwargs)

    monkeypatch.setattr(checkin_module, "enqueue", crash_on_second_card)
    scheduler, clock = world.scheduler(london(2026, 11, 23, 9, 0, 30))
    assert await scheduler.tick() == []
    assert len(calls) == 2 and "process died between two cards" in caplog.text
    for model in (CheckinRound, Checkin, Outbox):
        assert await world.count(model) == 0, model
    assert await scheduler.tick() == [f"{SLUG}: round {W48}, 2 cards"]
    assert await scheduler.tick() == []
    rid = await world.round_id()
    assert await world.outbox() == sorted(world.cards(
        rid, "checkin", ["Karen Dolton", "Lana Shannon"], clock.now))
    assert await world.count(Checkin) == 2 and await world.count(CheckinRound) == 1


async def second_engine(engine):
    """Another engine (a second replica) on the same database and schema."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        return make_engine(url)
    async with engine.connect() as connection:
        schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
    return make_engine(url, schema=schema)


@pytest.mark.parametrize(("replicas", "first_tick"), [
    ("two sessionmakers", False), ("two engines", False), ("two engines", True)])
async def test_two_schedulers_ticking_together_do_each_job_once(world, engine, replicas,
                                                                first_tick, caplog, request):
    other = await second_engine(engine) if replicas == "two engines" else engine
    try:
        clock = Clock(london(2026, 11, 23, 8, 59))
        first = Scheduler(session_factory(engine), clock)
        second = Scheduler(session_factory(other), clock)
        if not first_tick:  # the plan's schedule exists: both race for the round itself
            assert await first.tick() == []
        lines, expected = [], []
        for at, job in ((london(2026, 11, 23, 9, 0, 30), "round"),
                        (london(2026, 11, 25, 12, 1), "chaser1"),
                        (london(2026, 11, 26, 12, 1), "chaser2"),
                        (london(2026, 11, 27, 9, 1), "escalate")):
            clock.now = at
            done = await asyncio.gather(first.tick(), second.tick())
            lines += [line for both in done for line in both]  # the loser reports nothing
            rid = await world.round_id()
            if job == "escalate":
                expected += [("escalation", world.chats["Sam Owner"], f"escalate:{rid}", at)]
            else:
                expected += world.cards(rid, "checkin" if job == "round" else job,
                                        ["Karen Dolton", "Lana Shannon"], at)
            assert await world.outbox() == sorted(expected), job
        assert sorted(lines) == sorted([f"{SLUG}: round {W48}, 2 cards", f"{SLUG}: chaser1 {W48}",
                                        f"{SLUG}: chaser2 {W48}", f"{SLUG}: escalate {W48}"])
        assert await world.count(CheckinRound) == 1 and await world.count(Checkin) == 2
        assert await world.count(CheckinSchedule) == 1
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    finally:
        if other is not engine:
            await other.dispose()


async def test_a_lead_on_leave_without_delegate_gets_no_card_and_is_reported(world):
    await world.change_person("Karen Dolton", away_until=date(2026, 12, 4))
    scheduler, clock = world.scheduler(london(2026, 11, 23, 9, 0, 30))
    assert await scheduler.tick() == [f"{SLUG}: round {W48}, 1 cards"]
    rid = await world.round_id()
    assert await world.outbox() == world.cards(rid, "checkin", ["Lana Shannon"], clock.now)
    assert list(await world.checkins()) == ["Lana Shannon"]
    async with world.sessions() as session, session.begin():
        plan = await session.get(Plan, world.plan_id)
        report = await start_round(session=session, plan=plan, period=W48, now=clock.now,
                                   tz="Europe/London")
    assert report.away == ["Karen Dolton"] and report.queued == []


async def test_a_lead_on_leave_with_a_delegate_sends_the_actions_to_the_delegate(world):
    await world.change_person("Karen Dolton", away_until=date(2026, 12, 4),
                              delegate_id=world.ids["Lana Shannon"])
    scheduler, clock = world.scheduler(london(2026, 11, 23, 9, 0, 30))
    assert await scheduler.tick() == [f"{SLUG}: round {W48}, 1 cards"]
    rid = await world.round_id()
    assert await world.outbox() == world.cards(rid, "checkin", ["Lana Shannon"], clock.now)
    lana = (await world.checkins())["Lana Shannon"]
    assert list(await world.checkins()) == ["Lana Shannon"]
    async with world.sessions() as session:
        karen_only = (await session.execute(select(Action.id).where(
            Action.ref == "4a"))).scalar_one()  # led by Karen, not Lana
        card = (await session.execute(select(Outbox.activity_json))).scalar_one()
    assert str(karen_only) in lana.action_ids.split(",")
    assert f"rag_{karen_only}" in json.dumps(json.loads(card))


async def test_a_lead_teams_refused_for_good_is_named_in_the_owners_card(world):
    """403 (bot blocked, app removed, user left) is final: the owner hears who and why."""
    scheduler, clock = world.scheduler(london(2026, 11, 23, 9, 1))
    await scheduler.tick()
    async with world.sessions() as session, session.begin():
        row = (await session.execute(select(Outbox).where(
            Outbox.conversation_id == world.chats["Karen Dolton"]))).scalar_one()
        row.status, row.last_error = "failed", "HTTP 403: the bot is blocked by the user"
    for at in (london(2026, 11, 25, 12, 1), london(2026, 11, 26, 12, 1),
               london(2026, 11, 27, 9, 1)):
        clock.now = at
        await scheduler.tick()
    async with world.sessions() as session:
        escalation = (await session.execute(select(Outbox).where(
            Outbox.kind == "escalation"))).scalar_one()
    card = json.loads(escalation.activity_json)["attachments"][0]["content"]
    body = json.dumps(card)
    assert "Could not be reached: 1 lead" in body
    assert "Karen Dolton" in body and "blocked or removed planbot" in body
    assert body.count("Lana Shannon") == 1  # she is missing, but reachable
    async with world.sessions() as session:  # and no reminders were sent into the void
        kinds = (await session.execute(select(Outbox.kind).where(
            Outbox.conversation_id == world.chats["Karen Dolton"]))).scalars().all()
    assert kinds == ["checkin"]
    from tests.cardcheck import assert_valid_card
    assert_valid_card(card)
