"""Issue 16: what planbot confirms is what it stored, and no update silently undoes another.

Teams activity JSON through the real /api/messages handler, cards delivered through the outbox
to a fake Bot Connector, the demo plan that ships with planbot (no ../shared needed); SQLite,
and PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from bot.app import create_app
from bot.cli import DEMO_PLAN
from bot.config import Settings
from dialogs.checkin import chase, escalate
from storage.db import make_engine, session_factory
from storage.importers.registry import read_plan_file
from storage.models import Action, Checkin, CheckinRound, Person, Plan, StatusUpdate
from storage.people import link_lead, unlink_lead
from storage.plans import save_draft
from storage.updates import record_update
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.test_checkin_flow import World, answers

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday of 2026-W48
KAREN = (teams.USER, teams.PERSONAL)
LANA = teams.user("Lana Shannon", 2)
MALLORY = teams.user("Mallory Nobody", 3)  # leads nothing
ADMIN = teams.user("Sam Admin", 4)
BOB = teams.user("Bob Jones", 5)  # Karen's delegate; leads nothing himself


class Clock:
    """A clock the test moves (the app reads it at every turn)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Trust(World):
    clock: Clock
    engine = None

    async def say(self, text: str, who=KAREN, activity_id: str | None = None) -> str:
        activity = teams.personal_message(self.url, text, who=who)
        if activity_id:
            activity["id"] = activity_id
        count = len(self.fake.sent)
        await self.post(activity)
        return " ".join(s.body.get("text") or "" for s in self.fake.sent[count:])

    async def submit(self, data: dict, who=KAREN) -> dict:
        body = await (await self.post(teams.card_execute(self.url, "checkin.submit", data,
                                                         who=who))).json()
        assert body["statusCode"] == 200, body
        assert_valid_card(body["value"])
        return body["value"]

    async def card_of(self, conversation: dict) -> dict:
        [sent] = [s for s in self.fake.sent if s.conversation_id == conversation["id"]
                  and s.body.get("attachments")]
        card = sent.body["attachments"][0]["content"]
        assert_valid_card(card)
        return card

    async def action(self, ref: str) -> Action:
        async with self.sessions() as session:
            return (await session.execute(select(Action).where(Action.ref == ref))).scalar_one()

    async def history(self, ref: str) -> list[StatusUpdate]:
        action = await self.action(ref)
        async with self.sessions() as session:
            return list((await session.execute(select(StatusUpdate).where(
                StatusUpdate.action_id == action.id)
                .order_by(StatusUpdate.at, StatusUpdate.id))).scalars())


@pytest.fixture
async def world(engine, sessions):
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    clock = Clock(NOW)
    settings = Settings(app_id="", app_password="", local=True, admins=ADMIN[0]["aadObjectId"])
    app = create_app(settings, engine, clock=clock)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW - timedelta(days=30),
                         draft=read_plan_file(DEMO_PLAN))
    w = Trust(client, fake, url, sessions, app)
    w.clock, w.engine = clock, engine
    for who in (KAREN, LANA, MALLORY, ADMIN, BOB):
        await w.post(teams.installation_update(url, who=who))
    async with sessions() as session, session.begin():
        for name in ("Karen Dolton", "Lana Shannon"):
            person = (await session.execute(select(Person).where(
                Person.display_name == name))).scalar_one()
            assert await link_lead(session=session, lead=name, person=person) > 0
    fake.sent.clear()
    yield w
    await client.close()
    await server.close()


def note(action_id: int, progress: str) -> dict[str, str]:
    """A progress note with "No change this week" ticked (the RAG stays as it is)."""
    return {f"progress_{action_id}": progress, f"nochange_{action_id}": "true"}


def refs_on(card: dict) -> list[str]:
    """Action refs whose RAG input is on a card, as "rag_<id>" ids."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("id", "")).startswith("rag_"):
                found.append(node["id"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


# --- 1 and 16: a delegate's answers ------------------------------------------------------------

async def test_a_delegates_card_answers_are_stored_and_say_whose_they_are(world):
    assert "Bob Jones is now your delegate" in await world.say("delegate to Bob Jones")
    assert "no check-in cards for you" in await world.say("snooze until 11 December")
    report = await world.round()
    assert report.away == [] and report.delegated == [
        "Karen Dolton (away until 11 December 2026): card to Bob Jones"]
    assert await world.drain() == 2  # Bob (for Karen) and Lana
    card = await world.card_of(BOB[1])
    assert "for Karen Dolton (away until 11 December 2026)" in str(card)
    a4c = (await world.action("4c")).id
    receipt = await world.submit(answers(card, {f"rag_{a4c}": "green",
                                                f"progress_{a4c}": "Recruited two seniors"}),
                                 who=BOB)
    [row] = [u for u in await world.history("4c") if u.source == "card"]
    assert (row.rag, row.progress, row.by_name) == ("green", "Recruited two seniors", "Bob Jones")
    assert (await world.action("4c")).rag == "green"
    assert "Recruited two seniors" in str(receipt) and "Recorded" in str(receipt)
    bob = await world.person("Bob Jones")
    async with world.sessions() as session:
        checkin = (await session.execute(select(Checkin).where(
            Checkin.person_id == bob.id))).scalar_one()
    assert checkin.status == "answered"


async def test_checkin_now_prints_who_is_away_and_who_has_their_card(world, tmp_path):
    import io

    from bot.cli_commands import checkin_now
    async with world.sessions() as session, session.begin():
        karen = (await session.execute(select(Person).where(
            Person.display_name == "Karen Dolton"))).scalar_one()
        lana = (await session.execute(select(Person).where(
            Person.display_name == "Lana Shannon"))).scalar_one()
        karen.away_until, lana.away_until = date(2099, 1, 1), date(2099, 1, 1)
        karen.delegate_id = (await session.execute(select(Person.id).where(
            Person.display_name == "Bob Jones"))).scalar_one()
    if world.engine.url.get_backend_name() != "sqlite":
        pytest.skip("the CLI test reads the SQLite file by its URL")
    out = io.StringIO()
    settings = Settings(app_id="", app_password="", local=True,
                        database_url=str(world.engine.url))
    await checkin_now(settings, plan_name=None, wait=0.1, out=out)
    printed = out.getvalue()
    assert "away, no delegate: Lana Shannon" in printed
    assert "Karen Dolton (away until 1 January 2099): card to Bob Jones" in printed


# --- 2: an unlinked lead ------------------------------------------------------------------------

async def test_an_unlinked_leads_answer_is_refused_said_and_not_counted(world):
    await world.round()
    await world.drain()
    card = await world.card_of(LANA[1])
    async with world.sessions() as session, session.begin():
        assert await unlink_lead(session=session, lead="Lana Shannon") > 0
    a14 = (await world.action("14a")).id
    receipt = await world.submit(answers(card, {f"rag_{a14}": "green",
                                                f"progress_{a14}": "Training delivered"}),
                                 who=LANA)
    assert [u for u in await world.history("14a") if u.source == "card"] == []
    said = str(receipt)
    assert "Recorded — thank you" not in said and "Nothing was saved" in said
    assert "14a" in said and "no longer" in said
    lana = await world.person("Lana Shannon")
    async with world.sessions() as session, session.begin():
        checkin = (await session.execute(select(Checkin).where(
            Checkin.person_id == lana.id))).scalar_one()
        assert checkin.status != "answered"
        # Nobody is chased for a card of actions that are no longer theirs.
        assert "Lana Shannon" not in await chase(session=session, round_id=checkin.round_id,
                                                 number=1, now=NOW + timedelta(days=2),
                                                 tz="Europe/London")


# --- 3: a stale card never undoes a newer rating -----------------------------------------------

async def test_an_untouched_rag_on_an_older_card_does_not_undo_a_newer_rating(world):
    await world.round()
    await world.drain()
    karen_card = await world.card_of(KAREN[1])
    a4 = (await world.action("4a")).id
    world.clock.now = NOW + timedelta(hours=1)
    assert "Recorded 7a as Green" in await world.say("update 7a green: panel set up")
    world.clock.now = NOW + timedelta(hours=2)
    said = await world.say("update 7a red: panel cancelled; corrective: new chair; "
                           "review: 4 December", who=LANA)
    assert "Recorded 7a as Red" in said
    world.clock.now = NOW + timedelta(hours=3)
    # Karen sends her Monday card with a note on 4a; 7a is as the card showed it (Amber).
    await world.submit(answers(karen_card, note(a4, "Backlog halved")))
    assert (await world.action("7a")).rag == "red"
    newest = (await world.history("7a"))[-1]
    assert (newest.rag, newest.by_name) == ("red", "Lana Shannon")
    assert [u.progress for u in await world.history("4a")][-1] == "Backlog halved"


async def test_a_changed_rag_on_an_action_updated_since_the_card_is_asked_back(world):
    await world.round()
    await world.drain()
    karen_card = await world.card_of(KAREN[1])
    a7, a4 = (await world.action("7a")).id, (await world.action("4a")).id
    world.clock.now = NOW + timedelta(hours=2)
    await world.say("update 7a red: panel cancelled; corrective: new chair; review: 4 December",
                    who=LANA)
    world.clock.now = NOW + timedelta(hours=3)
    asked = await world.submit(answers(karen_card, {
        f"rag_{a7}": "green", f"progress_{a7}": "Panel met", **note(a4, "Backlog halved")}))
    said = str(asked)
    assert "7a was set to Red by Lana Shannon on 23 Nov 2026" in said
    assert "keep Red or set Green?" in said and "Saved 4a." in said
    assert refs_on(asked) == [f"rag_{a7}"]  # only the action in question is asked again
    assert "Panel met" in said  # what Karen typed is kept
    assert (await world.action("7a")).rag == "red"
    assert [u.progress for u in await world.history("4a")][-1] == "Backlog halved"
    # She chooses Green on the card she was asked with: now it is applied.
    world.clock.now = NOW + timedelta(hours=4)
    receipt = await world.submit(answers(asked, {f"rag_{a7}": "green"}))
    assert "Recorded" in str(receipt)
    newest = (await world.history("7a"))[-1]
    assert (newest.rag, newest.by_name, newest.progress) == ("green", "Karen Dolton", "Panel met")
    assert (await world.action("7a")).rag == "green"


async def test_a_leads_own_chat_update_is_not_undone_by_their_older_card(world):
    await world.round()
    await world.drain()
    card = await world.card_of(KAREN[1])
    a7 = (await world.action("7a")).id
    world.clock.now = NOW + timedelta(hours=1)
    await world.say("update 7a green: panel set up")
    world.clock.now = NOW + timedelta(hours=2)
    asked = await world.submit(answers(card, {f"rag_{a7}": "red",
                                              f"corrective_{a7}": "x",
                                              f"review_{a7}": "2026-12-04"}))
    assert "7a was set to Green by Karen Dolton" in str(asked)
    assert (await world.action("7a")).rag == "green"


async def test_the_same_lead_correcting_their_answer_on_the_same_card_is_not_asked(world):
    """The update since the card is their own answer from this very card (a second device, or
    the Action.Submit fallback): they know what they said, so the new RAG is applied."""
    await world.round()
    await world.drain()
    card = await world.card_of(KAREN[1])
    a7 = (await world.action("7a")).id
    await world.submit(answers(card, {f"rag_{a7}": "green", f"progress_{a7}": "Panel met"}))
    world.clock.now = NOW + timedelta(hours=1)
    receipt = await world.submit(answers(card, {f"rag_{a7}": "blue",
                                                f"evidence_{a7}": "Panel minutes"}))
    assert "Recorded" in str(receipt) and "after this card was made" not in str(receipt)
    assert [u.rag for u in await world.history("7a")][-2:] == ["green", "blue"]


# --- 4: an old round's card ---------------------------------------------------------------------

async def test_last_weeks_card_is_recorded_with_this_weeks_check_in(world):
    await world.round()
    await world.drain()
    old_card = await world.card_of(KAREN[1])
    world.fake.sent.clear()
    world.clock.now = NOW + timedelta(days=7)
    await world.round(now=world.clock.now, period="2026-W49")
    await world.drain()
    a4 = (await world.action("4a")).id
    receipt = await world.submit(answers(old_card, note(a4, "Late answer")))
    assert "recorded with this week's check-in (week of 30 November 2026)" in str(receipt)
    karen, admin = await world.person("Karen Dolton"), await world.person("Sam Admin")
    async with world.sessions() as session, session.begin():
        rows = (await session.execute(select(Checkin, CheckinRound).join(
            CheckinRound, CheckinRound.id == Checkin.round_id).where(
            Checkin.person_id == karen.id).order_by(CheckinRound.id))).all()
        assert [(r.period, c.status) for c, r in rows][-1] == ("2026-W49", "answered")
        chased = await chase(session=session, round_id=rows[-1][1].id, number=1,
                             now=world.clock.now + timedelta(days=2), tz="Europe/London")
        assert "Karen Dolton" not in chased
        plan = (await session.execute(select(Plan))).scalar_one()
        plan.owner_person_id = admin.id
    async with world.sessions() as session, session.begin():
        assert await escalate(session=session, round_id=rows[-1][1].id,
                              now=world.clock.now + timedelta(days=4), tz="Europe/London")
    [row] = [u for u in await world.history("4a") if u.source == "card"]
    assert row.progress == "Late answer" and row.idempotency_key.startswith(
        f"checkin:{rows[-1][0].id}:")


# --- 5: concurrent updates of one action --------------------------------------------------------

async def test_concurrent_updates_leave_the_rag_of_the_newest_history_row(engine, sessions):
    """Two co-leads answering the same action at the same moment, through two engines (two
    replicas): after every pair the action's RAG and rating change follow its newest row."""
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW, draft=read_plan_file(DEMO_PLAN))
    other = make_engine(engine.url.render_as_string(hide_password=False),
                        schema=await _schema_of(engine))
    replicas = [sessions, session_factory(other)]
    rags = ["green", "blue", "amber", "red"]

    async def answer(replica, rag, at):
        async with replica() as session, session.begin():
            action = (await session.execute(select(Action).where(
                Action.ref == "7a"))).scalar_one()
            await asyncio.sleep(0)  # let the other replica read too
            await record_update(session=session, action=action, source="card", at=at,
                                rag=rag, evidence="e", progress="p", by_name=rag)

    try:
        for index in range(12):
            first, second = rags[index % 4], rags[(index + 1) % 4]
            at = NOW + timedelta(minutes=index)
            # the later clock reading commits first in about half of the pairs
            await asyncio.gather(answer(replicas[0], first, at + timedelta(seconds=1)),
                                 answer(replicas[1], second, at))
            async with sessions() as session:
                action = (await session.execute(select(Action).where(
                    Action.ref == "7a"))).scalar_one()
                history = list((await session.execute(select(StatusUpdate).where(
                    StatusUpdate.action_id == action.id)
                    .order_by(StatusUpdate.at.desc(), StatusUpdate.id.desc()))).scalars())
            assert action.rag == history[0].rag, f"pair {index}"
            order = ["red", "amber", "green", "blue"]
            before, after = order.index(history[1].rag), order.index(history[0].rag)
            expected = "up" if after > before else "down" if after < before else "same"
            assert history[0].rating_change == action.rating_change == expected, f"pair {index}"
    finally:
        await other.dispose()


async def _schema_of(engine) -> str | None:
    """The PostgreSQL schema this test's engine works in (None on SQLite)."""
    if engine.url.get_backend_name() == "sqlite":
        return None
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT current_schema()"))).scalar()


# --- 6: a chat update delivered twice -----------------------------------------------------------

async def test_a_chat_update_redelivered_by_teams_is_stored_once(world):
    replies = [await world.say("update 4a green: backlog cleared", activity_id="1732520009999")
               for _ in range(5)]
    assert all("Recorded 4a as Green: backlog cleared" in reply for reply in replies)
    assert len([u for u in await world.history("4a") if u.source == "chat"]) == 1
    # A new message (another id) saying the same is a new update.
    await world.say("update 4a green: backlog cleared", activity_id="1732520010000")
    assert len([u for u in await world.history("4a") if u.source == "chat"]) == 2


async def test_a_chat_update_redelivered_concurrently_is_stored_once(world):
    activity = teams.personal_message(world.url, "update 4a green: backlog cleared")
    responses = await asyncio.gather(*[world.client.post("/api/messages", json=activity)
                                       for _ in range(8)])
    assert all(response.status in (200, 201) for response in responses)
    assert len([u for u in await world.history("4a") if u.source == "chat"]) == 1


# --- 8: refreshing someone else's card ----------------------------------------------------------

async def test_refresh_shows_a_card_only_to_its_lead_delegate_or_an_admin(world):
    await world.round()
    await world.drain()
    card = await world.card_of(KAREN[1])
    a4 = (await world.action("4a")).id
    await world.submit(answers(card, note(a4, "Private note on 4a")))
    token = card["actions"][0]["data"]["token"]
    for who, sees in ((MALLORY, False), (LANA, False), (KAREN, True), (ADMIN, True)):
        body = await (await world.post(teams.card_execute(
            world.url, "checkin.refresh", {"token": token}, who=who))).json()
        assert body["statusCode"] == 200
        assert_valid_card(body["value"])
        shown = json.dumps(body["value"], ensure_ascii=False).replace("\u00a0", " ")
        assert ("Private note on 4a" in shown) is sees, who[0]["name"]
        if not sees:
            assert "This check-in is for Karen Dolton" in shown


# --- 9: plan owner ------------------------------------------------------------------------------

async def test_make_me_owner_takes_only_the_plan_named(world):
    async with world.sessions() as session, session.begin():
        draft = read_plan_file(DEMO_PLAN)
        await save_draft(session=session, now=NOW, draft=draft.model_copy(
            update={"name": "Tameside Improvement Plan 2023"}), slug="tameside-2023")
        plans = list((await session.execute(select(Plan).order_by(Plan.id))).scalars())
    assert len(plans) == 2
    said = await world.say("make me plan owner", who=ADMIN)
    assert "Which plan?" in said and "Nothing was changed" in said
    said = await world.say(f"make me owner of {plans[1].name}", who=ADMIN)
    assert f"You now own {plans[1].name}" in said
    admin = await world.person("Sam Admin")
    async with world.sessions() as session:
        owners = dict((await session.execute(select(Plan.id, Plan.owner_person_id))).all())
    assert owners == {plans[0].id: None, plans[1].id: admin.id}
    assert "no plan called" in (await world.say("make me owner of Rochdale", who=ADMIN)).lower()
    assert "Sorry, only a plan admin" in await world.say("make me plan owner", who=LANA)
