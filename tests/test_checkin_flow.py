"""The weekly check-in end to end: Teams activity JSON in, cards out through the outbox to a fake
Bot Connector, answers stored with history (SQLite, and PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import ADAPTER, create_app
from bot.config import Settings
from bot.proactive import BotDelivery
from bot.sender import Sender
from dialogs import checkin_submit
from dialogs.checkin import chase, escalate, start_round
from dialogs.context import system_clock
from storage.importers.registry import read_plan_file
from storage.models import Action, ActionLead, Checkin, Person, Plan, StatusUpdate
from storage.people import link_lead
from storage.plans import save_draft
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.truthcheck import PLANS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday of 2026-W48
LANA = teams.user("Lana Shannon", 2)
MALLORY = teams.user("Mallory Nobody", 3)  # not a lead of anything
ADMIN = teams.user("Sam Admin", 4)


class World:
    """The bot, a fake connector, the Manchester plan, and three people who installed the app."""

    def __init__(self, client, fake, url, sessions, app):
        self.client, self.fake, self.url, self.sessions, self.app = client, fake, url, sessions, app

    async def post(self, activity):
        response = await self.client.post("/api/messages", json=activity)
        assert response.status in (200, 201), await response.text()
        return response

    async def drain(self) -> int:
        settings = Settings(app_id="", app_password="", local=True)
        # The sender's rate limiter needs a clock that moves: the real one.
        sender = Sender(self.sessions, BotDelivery(self.app[ADAPTER], settings,
                                                   clock=system_clock), system_clock)
        return await sender.drain_once()

    async def person(self, name) -> Person:
        async with self.sessions() as session:
            return (await session.execute(select(Person).where(
                Person.display_name == name))).scalar_one()

    async def round(self, now=NOW, period="2026-W48"):
        async with self.sessions() as session, session.begin():
            plan = (await session.execute(select(Plan))).scalar_one()
            return await start_round(session=session, plan=plan, period=period, now=now,
                                     tz="Europe/London")

    async def checkin_of(self, name) -> Checkin:
        person = await self.person(name)
        async with self.sessions() as session:
            return (await session.execute(select(Checkin).where(
                Checkin.person_id == person.id).order_by(Checkin.id.desc()))).scalars().first()

    async def updates(self, source="card") -> list[StatusUpdate]:
        async with self.sessions() as session:
            return list((await session.execute(select(StatusUpdate).where(
                StatusUpdate.source == source).order_by(StatusUpdate.id))).scalars())


@pytest.fixture
async def world(engine, sessions):
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    settings = Settings(app_id="", app_password="", local=True, admins=ADMIN[0]["aadObjectId"])
    app = create_app(settings, engine, clock=lambda: NOW)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW - timedelta(days=30), draft=read_plan_file(
            PLANS / "manchester-improvement-plan-2015-rag.txt"))
    w = World(client, fake, url, sessions, app)
    for who in (None, LANA, MALLORY, ADMIN):
        await w.post(teams.installation_update(url, who=who))
    async with sessions() as session, session.begin():
        for lead, name in (("Karen Dolton", "Karen Dolton"), ("Lana Shannon", "Lana Shannon")):
            person = (await session.execute(select(Person).where(
                Person.display_name == name))).scalar_one()
            assert await link_lead(session=session, lead=lead, person=person) > 0
    fake.sent.clear()
    yield w
    await client.close()
    await server.close()


def answers(card: dict, changes: dict[str, str]) -> dict:
    """What Teams sends for a card: the action's data and every input's value, with changes."""
    data: dict[str, str] = dict(card["actions"][0]["data"])

    def walk(node):
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                default = node.get("value", "")
                data[node["id"]] = "false" if node["type"] == "Input.Toggle" and not default \
                    else str(default)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card["body"])
    data.update(changes)
    return data


def token_of(card: dict) -> str:
    return card["actions"][0]["data"]["token"]


async def karen_card(w: World) -> dict:
    await w.round()
    assert await w.drain() == 2  # Karen and Lana
    cards = {body["conversation"]["id"] if "conversation" in body else None: body
             for body in w.fake.messages()}
    assert len(cards) >= 1
    karen = [s for s in w.fake.sent if s.conversation_id == teams.PERSONAL["id"]]
    [sent] = karen
    card = sent.body["attachments"][0]["content"]
    assert_valid_card(card)
    return card


async def first_action_id(w: World, ref: str) -> int:
    async with w.sessions() as session:
        return (await session.execute(select(Action.id).where(Action.ref == ref))).scalar_one()


async def test_each_lead_gets_one_card_listing_their_open_actions(world):
    card = await karen_card(world)
    checkin = await world.checkin_of("Karen Dolton")
    on_card = [int(i) for i in checkin.action_ids.split(",")]
    async with world.sessions() as session:
        refs = list((await session.execute(select(Action.ref).where(Action.id.in_(on_card))
                                            .order_by(Action.position))).scalars())
    assert len(refs) == 15 and refs[:4] == ["3a", "3b", "3c", "4a"]  # Karen leads 25 actions
    for action_id in on_card:
        assert f"rag_{action_id}" in str(card)
    assert "more" in str(card)  # the card says that more actions come in later weeks
    assert checkin.status == "sent" and checkin.card_activity_id == world.fake.sent[0].body.get(
        "id", checkin.card_activity_id)
    again = await world.round()  # the same week again: nobody gets a second card
    assert again.queued == [] and await world.drain() == 0


async def test_action_execute_stores_history_and_replaces_the_card(world):
    card = await karen_card(world)
    a3 = await first_action_id(world, "3a")
    data = answers(card, {f"rag_{a3}": "amber", f"progress_{a3}": "Audit booked for March",
                          f"corrective_{a3}": "Weekly case audits",
                          f"review_{a3}": "2026-12-07"})
    body = await (await world.post(teams.card_execute(world.url, "checkin.submit", data))).json()
    assert body["statusCode"] == 200 and body["type"].endswith("card.adaptive")
    assert_valid_card(body["value"])
    assert "Audit booked for March" in str(body["value"])
    [update] = await world.updates()
    assert (update.rag, update.progress, update.by_name) == ("amber", "Audit booked for March",
                                                               "Karen Dolton")
    assert (update.corrective_action, update.next_review) == ("Weekly case audits",
                                                              date(2026, 12, 7))
    async with world.sessions() as session:
        action = await session.get(Action, a3)
    assert action.rag == "amber" and action.rating_change == "up"  # was RED
    assert (await world.checkin_of("Karen Dolton")).status == "answered"
    # A double click, or Teams retrying the invoke: no second history row.
    await world.post(teams.card_execute(world.url, "checkin.submit", data))
    assert len(await world.updates()) == 1


async def test_no_change_with_a_note_keeps_the_rag_and_the_note(world):
    card = await karen_card(world)
    a3, a4 = await first_action_id(world, "3a"), await first_action_id(world, "4a")
    data = answers(card, {f"nochange_{a3}": "true", f"rag_{a3}": "green",
                          f"progress_{a3}": "Waiting for the audit", f"nochange_{a4}": "true"})
    await world.post(teams.card_execute(world.url, "checkin.submit", data))
    [update] = await world.updates()  # 4a said nothing new: no row for it
    assert (update.action_id, update.rag, update.progress) == (a3, "red",
                                                               "Waiting for the audit")


async def test_action_submit_updates_the_card_in_place(world):
    card = await karen_card(world)
    sent_id = (await world.checkin_of("Karen Dolton")).card_activity_id
    a4 = await first_action_id(world, "4a")
    data = {"verb": "checkin.submit", **answers(card, {f"rag_{a4}": "green",
                                                       f"progress_{a4}": "Backlog cleared"})}
    await world.post(teams.card_submit(world.url, data, reply_to=sent_id))
    [put] = [s for s in world.fake.sent if s.method == "PUT"]
    assert put.path.endswith(f"/activities/{sent_id}")
    assert_valid_card(put.body["attachments"][0]["content"])
    assert [u.rag for u in await world.updates()] == ["green"]


async def test_blue_needs_evidence_and_the_card_is_kept(world):
    card = await karen_card(world)
    a3 = await first_action_id(world, "3a")
    data = answers(card, {f"rag_{a3}": "blue", f"progress_{a3}": "All done"})
    body = await (await world.post(teams.card_execute(world.url, "checkin.submit", data))).json()
    assert body["statusCode"] == 200
    assert_valid_card(body["value"])
    assert "evidence" in str(body["value"]).lower() and "All done" in str(body["value"])
    assert await world.updates() == []
    assert (await world.checkin_of("Karen Dolton")).status == "sent"


async def test_only_the_lead_delegate_or_admin_may_answer(world):
    card = await karen_card(world)
    a3 = await first_action_id(world, "3a")
    data = answers(card, {f"rag_{a3}": "green", f"progress_{a3}": "forged"})
    body = await (await world.post(teams.card_execute(world.url, "checkin.submit", data,
                                                      who=MALLORY))).json()
    assert "Only Karen Dolton" in str(body["value"]) and await world.updates() == []
    # An action that was never on Karen's card, smuggled into her own payload.
    other = await first_action_id(world, "10e")
    forged = {**data, f"rag_{other}": "blue", f"evidence_{other}": "x",
              f"progress_{other}": "", f"blockers_{other}": "", f"nochange_{other}": "false"}
    body = await (await world.post(teams.card_execute(world.url, "checkin.submit", forged))).json()
    assert "not on your card" in str(body["value"]) and await world.updates() == []
    # A plan admin may answer for the lead.
    body = await (await world.post(teams.card_execute(world.url, "checkin.submit", data,
                                                      who=ADMIN))).json()
    assert body["type"].endswith("card.adaptive")
    assert [u.by_name for u in await world.updates()] == ["Sam Admin"]


async def test_an_action_reassigned_since_the_card_was_sent_is_not_stored(world):
    card = await karen_card(world)
    a3, a4 = await first_action_id(world, "3a"), await first_action_id(world, "4a")
    async with world.sessions() as session, session.begin():  # 3a goes to someone else
        for row in (await session.execute(select(ActionLead).where(
                ActionLead.action_id == a3))).scalars():
            row.name, row.person_id = "Someone Else", None
    data = answers(card, {f"rag_{a3}": "green", f"progress_{a3}": "not hers any more",
                          f"rag_{a4}": "green", f"progress_{a4}": "Backlog cleared"})
    await world.post(teams.card_execute(world.url, "checkin.submit", data))
    assert [(u.action_id, u.progress) for u in await world.updates()] == [
        (a4, "Backlog cleared")]
    # A plan admin may still answer every action on the card (4a's answer is stored already).
    await world.post(teams.card_execute(world.url, "checkin.submit", data, who=ADMIN))
    assert [(u.action_id, u.by_name) for u in await world.updates()] == [
        (a4, "Karen Dolton"), (a3, "Sam Admin")]


async def test_a_double_submit_racing_past_the_key_check_is_stored_once(world, monkeypatch):
    """Two replicas can both find the answer's key missing; the second insert then hits the
    unique key, and the turn is answered from a second pass instead of failing."""
    card = await karen_card(world)
    a4 = await first_action_id(world, "4a")
    data = answers(card, {f"rag_{a4}": "green", f"progress_{a4}": "Backlog cleared"})
    await world.post(teams.card_execute(world.url, "checkin.submit", data))
    real, real_latest, calls = checkin_submit.stored_keys, checkin_submit.latest_updates, []

    async def blind_once(session, keys):
        calls.append(keys)
        return set() if len(calls) == 1 else await real(session, keys)

    latest_calls = []

    async def before_the_other_commit(session, ids):  # the other replica's row is not seen yet
        latest_calls.append(ids)
        return {} if len(latest_calls) == 1 else await real_latest(session, ids)

    monkeypatch.setattr(checkin_submit, "stored_keys", blind_once)
    monkeypatch.setattr(checkin_submit, "latest_updates", before_the_other_commit)
    body = await (await world.post(teams.card_execute(world.url, "checkin.submit", data))).json()
    assert body["statusCode"] == 200 and "Backlog cleared" in str(body["value"])
    assert len(calls) == 2 and len(await world.updates()) == 1


async def test_out_of_date_or_forged_tokens_change_nothing(world):
    await karen_card(world)
    for data in ({"token": "nope"}, {"token": 5}, {}, {"token": "x" * 500}):
        body = await (await world.post(teams.card_execute(world.url, "checkin.submit",
                                                          data))).json()
        assert body["statusCode"] == 200 and "out of date" in str(body["value"])
        assert_valid_card(body["value"])
    assert await world.updates() == []


async def test_chasers_then_the_owner_hears_who_is_missing(world):
    card = await karen_card(world)
    await world.post(teams.card_execute(world.url, "checkin.submit", answers(card, {})))
    admin = await world.person("Sam Admin")
    async with world.sessions() as session, session.begin():
        plan = (await session.execute(select(Plan))).scalar_one()
        plan.owner_person_id = admin.id
        session.add(plan)
        round_id = (await session.execute(select(Checkin.round_id))).scalars().first()
        chased = await chase(session=session, round_id=round_id, number=1, now=NOW, tz="UTC")
        again = await chase(session=session, round_id=round_id, number=1, now=NOW, tz="UTC")
        assert await escalate(session=session, round_id=round_id, now=NOW, tz="UTC")
    assert chased == ["Lana Shannon"] and again == []  # Karen answered; once per chaser
    world.fake.sent.clear()
    assert await world.drain() == 2
    to = {s.conversation_id: s.body for s in world.fake.sent}
    assert set(to) == {LANA[1]["id"], ADMIN[1]["id"]}
    missing = to[ADMIN[1]["id"]]["attachments"][0]["content"]
    assert_valid_card(missing)
    assert "Lana Shannon" in str(missing) and "Karen Dolton" not in str(missing)


async def test_leave_sends_the_card_to_the_delegate(world):
    await world.post(teams.personal_message(world.url, "delegate to Lana Shannon"))
    await world.post(teams.personal_message(world.url, "I'm on leave until 4 December"))
    karen = await world.person("Karen Dolton")
    assert karen.away_until == date(2026, 12, 4) and karen.delegate_id is not None
    report = await world.round()
    assert report.queued == ["Lana Shannon"]  # one card: Lana's own actions and Karen's
    world.fake.sent.clear()
    await world.drain()
    [sent] = world.fake.sent
    assert sent.conversation_id == LANA[1]["id"] and "3a" in str(sent.body)


async def test_a_delegate_may_update_by_chat_others_may_not(world):
    await world.post(teams.personal_message(world.url, "update 4a green: backlog cleared",
                                            who=LANA))
    assert "Only the lead" in world.fake.messages()[-1]["text"]
    await world.post(teams.personal_message(world.url, "delegate to Lana Shannon"))
    await world.post(teams.personal_message(world.url, "update 4a green: backlog cleared",
                                            who=LANA))
    assert [(u.progress, u.by_name) for u in await world.updates("chat")] == [
        ("backlog cleared", "Lana Shannon")]


async def test_update_and_snooze_by_chat(world):
    await world.post(teams.personal_message(
        world.url, "update 3a amber: audit booked for March; corrective: weekly case audits; "
                   "review: 7 December"))
    [update] = await world.updates("chat")
    assert (update.rag, update.progress) == ("amber", "audit booked for March")
    assert (update.corrective_action, update.next_review) == ("weekly case audits",
                                                              date(2026, 12, 7))
    await world.post(teams.personal_message(world.url, "update 3a blue: done"))
    assert "evidence" in world.fake.messages()[-1]["text"]
    await world.post(teams.personal_message(world.url, "update 3a green: mine now", who=MALLORY))
    assert "Only the lead" in world.fake.messages()[-1]["text"]
    assert len(await world.updates("chat")) == 1
    await world.post(teams.personal_message(world.url, "snooze until 1 Dec"))
    assert (await world.person("Karen Dolton")).away_until == date(2026, 12, 1)
    await world.post(teams.personal_message(world.url, "I'm back"))
    assert (await world.person("Karen Dolton")).away_until is None


async def test_admin_links_leads_in_chat_others_are_refused(world):
    await world.post(teams.personal_message(world.url, "link Kerry Mehta to Mallory Nobody",
                                            who=MALLORY))
    assert "only a plan admin" in world.fake.messages()[-1]["text"]
    await world.post(teams.personal_message(world.url, "link Kerry Mehta to Mallory Nobody",
                                            who=ADMIN))
    assert "Linked Kerry Mehta to Mallory Nobody" in world.fake.messages()[-1]["text"]
    await world.post(teams.personal_message(world.url, "who is unlinked?", who=ADMIN))
    text = world.fake.messages()[-1]["text"]
    assert "not linked" in text and "Kerry Mehta" not in text.split("not linked")[1]


async def test_every_plan_lead_is_listed_linked_or_not(world):
    async with world.sessions() as session:
        count = (await session.execute(select(func.count(Checkin.id)))).scalar()
    assert count == 0
    report = await world.round()
    assert "Geoff Little" in report.unlinked and "Karen Dolton" not in report.unlinked
