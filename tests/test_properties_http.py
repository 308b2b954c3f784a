"""Property tests through the real /api/messages handler: hostile messages and card submits
(Action.Execute invokes and Action.Submit messages) never give a 5xx or a crash reply, always get
a clear answer, and change stored data only when a valid check-in came from the right person."""

from __future__ import annotations

import json
import logging
import re
from datetime import date

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import event, example, given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import MAX_BODY, create_app
from bot.config import Settings
from dialogs.checkin_payload import CheckinSubmit, SubmitInvalid
from dialogs.help import build_router
from storage.importers.registry import read_plan_file
from storage.models import Action, Checkin, ConversationRef, Person, StatusUpdate
from storage.people import link_lead
from storage.plans import save_draft
from storage.rules import parse_rag
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.test_checkin_flow import ADMIN, LANA, MALLORY, NOW, World, answers
from tests.test_properties_ask import (
    CHANNEL_WRITERS,
    WRITERS,
    budget,
    fingerprint,
    fragments,
    hostile_text,
)
from tests.truthcheck import PLANS

CRASHED = "something went wrong on my side"  # bot/adapter.py's on_turn_error reply
CARD = "application/vnd.microsoft.card.adaptive"
MAX_CARD = 80 * 1024  # what tests/cardcheck.py accepts; Teams refuses far smaller messages
KAREN = (teams.USER, teams.PERSONAL)
PEOPLE = {"Karen Dolton": KAREN, "Lana Shannon": LANA, "Mallory Nobody": MALLORY,
          "Sam Admin": ADMIN}
VERBS = ["checkin.submit", "checkin.refresh", "ask.more", "people.link", "help"]
ROUTER = build_router()


async def stored(engine) -> tuple[dict[str, list[tuple]], set[str]]:
    """The store's fingerprint without the conversation references, which every turn refreshes
    by design (the latest activity of each chat), and the conversations it can write to."""
    async with engine.connect() as connection:
        conversations = set((await connection.execute(
            select(ConversationRef.conversation_id))).scalars())
    return await fingerprint(engine, skip=frozenset({"conversationref"})), conversations


def assert_unchanged(before: tuple, after: tuple, what: str) -> None:
    """No row changed, and no conversation reference was lost."""
    assert after[0] == before[0], f"{what} changed stored data"
    assert after[1] >= before[1], f"{what} lost a conversation reference"


class Cards(World):
    """World plus this week's check-in cards of Karen and Lana, and a store fingerprint."""

    engine = None
    cards: dict[str, dict] = {}
    on_card: dict[str, set[int]] = {}  # token -> action ids on that card
    owner: dict[str, str] = {}  # token -> the lead's name

    async def replies_since(self, count: int) -> list[dict]:
        """What the bot sent to the connector since `count` requests (posts and PUTs)."""
        return [item.body for item in self.fake.sent[count:]]


@pytest.fixture
async def world(engine, sessions):
    """The Manchester plan, four installed users, Karen and Lana linked, a round sent."""
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    settings = Settings(app_id="", app_password="", local=True, admins=ADMIN[0]["aadObjectId"])
    app = create_app(settings, engine, clock=lambda: NOW)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW, draft=read_plan_file(
            PLANS / "manchester-improvement-plan-2015-rag.txt"))
    w = Cards(client, fake, url, sessions, app)
    w.engine = engine
    for who in PEOPLE.values():
        await w.post(teams.installation_update(url, who=who))
    async with sessions() as session, session.begin():
        for name in ("Karen Dolton", "Lana Shannon"):
            person = (await session.execute(select(Person).where(
                Person.display_name == name))).scalar_one()
            assert await link_lead(session=session, lead=name, person=person) > 0
    fake.sent.clear()  # the welcome messages
    await w.round()
    assert await w.drain() == 2
    w.cards, w.on_card, w.owner = {}, {}, {}
    async with sessions() as session:
        rows = (await session.execute(select(Checkin, Person).join(
            Person, Person.id == Checkin.person_id))).all()
    for checkin, person in rows:
        [sent] = [s for s in fake.sent
                  if s.conversation_id == PEOPLE[person.display_name][1]["id"]
                  and s.body.get("attachments")]
        w.cards[person.display_name] = sent.body["attachments"][0]["content"]
        w.on_card[checkin.token] = {int(i) for i in checkin.action_ids.split(",")}
        w.owner[checkin.token] = person.display_name
    fake.sent.clear()
    yield w
    await client.close()
    await server.close()


@pytest.fixture
def crashes(caplog):
    """The turn errors logged so far (bot/adapter.py's on_turn_error), as messages."""
    caplog.set_level(logging.ERROR, logger="bot.adapter")
    return lambda: [record.getMessage() for record in caplog.records
                    if record.name == "bot.adapter" and record.levelno >= logging.ERROR]


async def _post(w: Cards, activity: dict):
    response = await w.client.post("/api/messages", data=json.dumps(activity).encode(),
                                   headers={"Content-Type": "application/json"})
    assert response.status < 500, await response.text()
    return response


def _assert_clear(replies: list[dict]) -> list[dict]:
    """At least one reply, each with text or a card, none of them the crash apology."""
    assert replies, "the bot answered nothing"
    for body in replies:
        text = body.get("text") or ""
        cards = [a["content"] for a in body.get("attachments") or []
                 if a.get("contentType") == CARD]
        assert text or cards, body
        assert CRASHED not in text and "Traceback" not in text, text
        for card in cards:
            assert card.get("type") == "AdaptiveCard"
            assert len(json.dumps(card)) < MAX_CARD, "reply card too large for Teams"
    return replies


# --- typed messages -----------------------------------------------------------------------------

@budget(60)
@given(text=hostile_text, who=st.sampled_from(sorted(PEOPLE)), channel=st.booleans())
@example(text="flibble <script>alert(1)</script>", who="Mallory Nobody", channel=False)
@example(text="'; DROP TABLE action; --", who="Sam Admin", channel=True)
async def test_any_typed_message_is_answered_over_http(world, crashes, text, who, channel):
    before, count = await stored(world.engine), len(world.fake.sent)
    activity = (teams.channel_mention(world.url, text) if channel
                else teams.personal_message(world.url, text, who=PEOPLE[who]))
    response = await _post(world, activity)
    if await _refused_as_too_large(world, activity, response, before):
        return
    assert response.status in (200, 201)
    _assert_clear(await world.replies_since(count))
    assert crashes() == []
    handler = ROUTER.matching(text)
    sender = "Karen Dolton" if channel else who  # the channel builder posts as Karen
    if handler not in WRITERS or (sender == "Mallory Nobody" and handler not in CHANNEL_WRITERS):
        assert_unchanged(before, await stored(world.engine), repr(text[:80]))


# --- card submits -------------------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
                      fragments)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                          max_leaves=8)
huge_text = st.builds(lambda chunk, size: (chunk * (size // len(chunk) + 1))[:size],
                      st.one_of(fragments, st.text(min_size=1, max_size=8)),
                      st.integers(4_000, 60_000))
review_value = st.sampled_from(["2026-12-14", "2026-11-23", "2026-11-22", "2020-01-01",
                                "2026-02-30", "14/12/2026", "12 December", " 2026-12-14 ", ""])
field_value = st.one_of(json_value, huge_text, review_value, st.sampled_from(
    ["red", "Amber", "G", "BLUE", "purple", "", " ", "true", "false", "on", "1"]))


def _mutate(draw, payload: dict, world: Cards) -> dict:
    """Hostile edits of a real card's data: drops, wrong types, unknown and foreign fields."""
    payload = dict(payload)
    foreign = sorted(set().union(*world.on_card.values())) + [0, -1, 999999, 10**12]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop", "set", "add", "token", "foreign", "answer"]))
        keys = sorted(payload)
        if op == "drop" and keys:
            payload.pop(draw(st.sampled_from(keys)))
        elif op == "set" and keys:
            payload[draw(st.sampled_from(keys))] = draw(field_value)
        elif op == "add":
            payload[draw(st.one_of(st.text(max_size=20), fragments))] = draw(field_value)
        elif op == "token":
            payload["token"] = draw(st.one_of(st.sampled_from(sorted(world.owner)), json_value))
        elif op == "foreign":  # an answer for an action on someone else's card, or none
            action_id = draw(st.sampled_from(foreign))
            field = draw(st.sampled_from(["rag", "progress", "evidence", "blockers",
                                          "nochange", "corrective", "review"]))
            payload[f"{field}_{action_id}"] = draw(st.sampled_from(["green", "x", "true"]))
        elif op == "answer":  # a plausible answer for an action on one of the cards
            action_id = draw(st.sampled_from(foreign[:-4]))
            payload[f"rag_{action_id}"] = draw(st.sampled_from(["red", "amber", "green"]))
            payload[f"progress_{action_id}"] = draw(st.text(max_size=40))
            if draw(st.booleans()):  # what a Red or Amber needs, sometimes only part of it
                payload[f"corrective_{action_id}"] = draw(st.one_of(
                    st.just("Weekly case audits"), st.text(max_size=20)))
                payload[f"review_{action_id}"] = draw(review_value)
    return payload


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ON = {"true", "on", "yes", "y", "t", "1"}  # what a pydantic bool reads as on
_ANSWER_KEY = re.compile(r"(rag|progress|evidence|blockers|nochange|corrective|review)_([0-9]+)")


def _red_amber_rule_holds(data: dict, stored: dict[int, str | None], today: date) -> bool:
    """Issue 8, written again here (not dialogs/checkin_payload): a Red or Amber that says
    something (not "No change", not left as the card showed the stored RAG with nothing typed)
    needs a corrective action and a next review date; no next review date before today."""
    def value(kind: str, action_id: str) -> str:
        raw = data.get(f"{kind}_{action_id}", "")
        return _CONTROL.sub("", raw).strip() if isinstance(raw, str) else ""

    ids = {match[2] for key in data if isinstance(key, str)
           and (match := _ANSWER_KEY.fullmatch(key))}
    for action_id in ids:
        review = value("review", action_id)
        if review and re.fullmatch(r"\d{4}-\d{2}-\d{2}", review):
            try:
                if date.fromisoformat(review) < today:
                    return False
            except ValueError:
                return False
        rag = parse_rag(value("rag", action_id))
        if rag is None or rag.value not in ("red", "amber"):
            continue
        if value("nochange", action_id).lower() in _ON:
            continue
        typed = any(value(kind, action_id) for kind in ("progress", "evidence", "blockers",
                                                        "corrective", "review"))
        if (typed or stored.get(int(action_id)) != rag.value) and not (
                value("corrective", action_id) and review):
            return False
    return True


async def _expected_valid(world: Cards, data: object, who: str) -> bool:
    """The oracle: a check-in submit that may be stored (right person, good token and data)."""
    if not isinstance(data, dict):
        return False
    token = data.get("token")
    if not isinstance(token, str) or token not in world.owner:
        return False
    if who not in (world.owner[token], "Sam Admin"):
        return False
    stored = await _shown_rags(world, data, token)
    if stored is None:
        return False
    today = NOW.date()  # 09:00 UTC: the same day in London
    if not _red_amber_rule_holds(data, stored, today):
        return False
    try:
        parsed = CheckinSubmit.from_card_data(data, stored_rags=stored, today=today)
    except SubmitInvalid:
        return False
    return {answer.action_id for answer in parsed.answers} <= world.on_card[token]


async def _shown_rags(world: Cards, data: dict, token: str) -> dict[int, str | None] | None:
    """The RAG each action had on the card as it was made (issue 16: an answer is compared with
    what the card showed, not with what is stored now): the card's "seen" names the status
    update it showed per action (0: none); a card without it showed the newest update when it
    was sent. None when "seen" is not the card's own kind of value."""
    seen = data.get("seen")
    async with world.sessions() as session:
        if seen is None:
            checkin = (await session.execute(select(Checkin).where(
                Checkin.token == token))).scalar_one()
            rows = (await session.execute(select(StatusUpdate).where(
                StatusUpdate.action_id.in_(world.on_card[token]),
                StatusUpdate.at <= checkin.sent_at).order_by(StatusUpdate.id))).scalars()
            return {row.action_id: row.rag for row in rows}  # the last one per action wins
        if not isinstance(seen, str) or not re.fullmatch(r"\d{1,12}:\d{1,12}(,\d{1,12}:\d{1,12})*",
                                                         seen):
            return None
        pairs = dict(tuple(map(int, item.split(":"))) for item in seen.split(","))
        rags = dict((await session.execute(select(StatusUpdate.id, StatusUpdate.rag).where(
            StatusUpdate.id.in_([u for u in pairs.values() if u])))).all())
    return {action_id: rags.get(update_id) for action_id, update_id in pairs.items()}


async def _updates(world: Cards) -> int:
    async with world.sessions() as session:
        return len((await session.execute(select(StatusUpdate.id).where(
            StatusUpdate.source == "card"))).all())


async def _refused_as_too_large(world: Cards, activity: dict, response, before) -> bool:
    """A body over the 1 MiB a Teams message can be (two ~45,000-emoji fields) is refused with
    413 and changes nothing; True then. Any smaller body must not be refused."""
    if len(json.dumps(activity).encode()) <= MAX_BODY:
        assert response.status != 413
        return False
    assert response.status == 413
    assert_unchanged(before, await stored(world.engine), "a body over 1 MiB")
    return True


@budget(150)
@given(draw=st.data(), who=st.sampled_from(sorted(PEOPLE)), execute=st.booleans(),
       base=st.sampled_from(["Karen Dolton", "Lana Shannon", "empty"]),
       verb=st.one_of(st.just("checkin.submit"), st.just("checkin.submit"),
                      st.sampled_from(VERBS), fragments, json_value))
async def test_card_submits_never_crash_and_only_valid_ones_store(world, crashes, draw, who,
                                                                  execute, base, verb):
    payload = {} if base == "empty" else answers(world.cards[base], {})
    payload = _mutate(draw.draw, payload, world)
    before, count = await stored(world.engine), len(world.fake.sent)
    updates_before = await _updates(world)
    if execute:
        activity = teams.card_execute(world.url, "x", payload, who=PEOPLE[who])
        activity["value"]["action"]["verb"] = verb
        response = await _post(world, activity)
        if await _refused_as_too_large(world, activity, response, before):
            return
        assert response.status == 200
        body = await response.json()
        if not (isinstance(verb, str) and ROUTER.has_verb(verb)):
            assert body["statusCode"] == 400 and body["value"]["message"], body
            routed, data = None, payload
        else:
            assert body["statusCode"] == 200 and body["type"] == CARD, body
            _assert_clear([{"attachments": [{"contentType": CARD, "content": body["value"]}]}])
            routed, data = verb, payload
    else:
        value = {**payload, "verb": verb}
        activity = teams.card_submit(world.url, value, who=PEOPLE[who])
        response = await _post(world, activity)
        if await _refused_as_too_large(world, activity, response, before):
            return
        assert response.status in (200, 201)
        _assert_clear(await world.replies_since(count))
        chosen = value.get("verb") or value.get("action")  # as PlanBot._submit reads it
        routed = chosen if isinstance(chosen, str) and ROUTER.has_verb(chosen) else None
        data = value
    assert crashes() == []
    valid = routed == "checkin.submit" and await _expected_valid(world, data, who)
    event(f"valid check-in: {valid}")
    event(f"routed to {routed}")
    after = await stored(world.engine)
    if valid:
        async with world.sessions() as session:
            status = (await session.execute(select(Checkin.status).where(
                Checkin.token == data["token"]))).scalar_one()
        asked_back = "after this card was made" in json.dumps(
            await world.replies_since(count) if not execute else body, ensure_ascii=False)
        assert status == "answered" or asked_back  # a RAG changed since the card is asked back
    elif routed == "people.link" and who == "Sam Admin":
        assert await _updates(world) == updates_before  # an admin may link; no history written
    else:
        assert_unchanged(before, after, f"{who} sending {verb!r} {str(data)[:300]}")


@budget(30)
@given(value=json_value, text=st.one_of(st.none(), st.just(""), fragments),
       who=st.sampled_from(sorted(PEOPLE)))
@example(value=["checkin.submit"], text=None, who="Karen Dolton")
async def test_action_submits_with_any_value_are_answered(world, crashes, value, text, who):
    """An Action.Submit message whose value is not card data at all (a list, a number, null)."""
    before, count = await stored(world.engine), len(world.fake.sent)
    activity = teams.card_submit(world.url, {}, who=PEOPLE[who])
    activity["value"] = value
    if text is not None:
        activity["text"] = text
    response = await _post(world, activity)
    assert response.status in (200, 201)
    _assert_clear(await world.replies_since(count))
    assert crashes() == []
    if not isinstance(value, dict) and ROUTER.matching(text or "") not in WRITERS:
        assert_unchanged(before, await stored(world.engine), f"submit of {value!r}")


names = st.sampled_from(["Karen Dolton", "Lana Shannon", "Mallory Nobody", "Sam Admin",
                         "Kerry Mehta", "Geoff Little", " ", "to", "x to y", "Karen Dolton to"])
other_data = st.fixed_dictionaries({}, optional={
    "lead": st.one_of(names, field_value), "user": st.one_of(names, field_value),
    "question": st.one_of(fragments, hostile_text, json_value),
    "page": st.one_of(st.integers(-5, 50), json_value), "token": json_value,
    "verb": st.one_of(st.sampled_from(VERBS), json_value), "extra": json_value})


@budget(80)
@given(verb=st.sampled_from(["people.link", "ask.more", "checkin.refresh", "help"]),
       data=other_data, who=st.sampled_from(sorted(PEOPLE)), execute=st.booleans())
@example(verb="people.link", data={"lead": " ", "user": "Lana Shannon"}, who="Sam Admin",
         execute=True)  # crashed: the link was re-parsed from "link   to Lana Shannon" (fixed)
@example(verb="people.link", data={"lead": "Kerry Mehta", "user": "Lana\x00Shannon"},
         who="Sam Admin", execute=False)  # NUL: PostgreSQL refused the query (fixed)
@example(verb="checkin.refresh", data={"token": "abc\x00"}, who="Karen Dolton", execute=True)
@example(verb="ask.more", data={"question": "red\x00actions", "page": 1}, who="Karen Dolton",
         execute=True)
@example(verb="people.link", data={"lead": "\U0001d518" * 45000, "user": "\U0001d518" * 45000},
         who="Sam Admin", execute=False)  # over 1 MiB as JSON: refused with 413 (was a failure)
async def test_other_card_actions_answer_and_only_an_admin_link_writes(world, crashes, verb,
                                                                       data, who, execute):
    before, count = await stored(world.engine), len(world.fake.sent)
    activity = (teams.card_execute(world.url, verb, data, who=PEOPLE[who]) if execute else
                teams.card_submit(world.url, {**data, "verb": verb}, who=PEOPLE[who]))
    response = await _post(world, activity)
    if await _refused_as_too_large(world, activity, response, before):
        return
    if execute:
        body = await response.json()
        assert body["statusCode"] == 200 and body["type"] == CARD, body
        _assert_clear([{"attachments": [{"contentType": CARD, "content": body["value"]}]}])
    else:
        assert response.status in (200, 201)
        _assert_clear(await world.replies_since(count))
    assert crashes() == []
    if not (verb == "people.link" and who == "Sam Admin"):
        assert_unchanged(before, await stored(world.engine), f"{who} sending {verb} {data!r}")


invoke_value = st.one_of(
    json_value,
    st.fixed_dictionaries({"action": json_value}),
    st.fixed_dictionaries({"action": st.fixed_dictionaries(
        {"type": st.one_of(st.just("Action.Execute"), json_value),
         "verb": st.one_of(st.sampled_from(VERBS), json_value),
         "data": json_value})}, optional={"trigger": json_value, "extra": json_value}))


@budget(60)
@given(value=invoke_value, who=st.sampled_from(sorted(PEOPLE)))
@example(value=None, who="Karen Dolton")  # botbuilder's own error body: a 500 (fixed)
@example(value={"action": "checkin.submit"}, who="Karen Dolton")  # AttributeError (fixed)
@example(value={"action": {"type": "Action.Execute", "verb": ["checkin.submit"]}},
         who="Karen Dolton")
async def test_malformed_card_actions_get_a_typed_error_not_a_500(world, crashes, value, who):
    before = await stored(world.engine)
    activity = teams.card_execute(world.url, "help", {}, who=PEOPLE[who])
    activity["value"] = value
    response = await _post(world, activity)
    assert response.status == 200
    body = await response.json()
    assert body["statusCode"] in (200, 400), body
    if body["statusCode"] == 400:
        assert body["type"] == "application/vnd.microsoft.error" and body["value"]["message"]
    else:
        _assert_clear([{"attachments": [{"contentType": CARD, "content": body["value"]}]}])
    assert crashes() == []
    assert_unchanged(before, await stored(world.engine), f"card action {value!r}")


@budget(20)
@given(name=st.one_of(st.none(), st.text(max_size=30), fragments), value=json_value)
async def test_other_invokes_do_not_crash(world, crashes, name, value):
    """Invoke names planbot does not handle: botbuilder answers 501 Not Implemented (its
    convention for unsupported invokes), never a crash or a change."""
    before = await stored(world.engine)
    activity = teams.card_execute(world.url, "help", {}, who=KAREN)
    activity["value"] = value
    if name is None:
        activity.pop("name")
    else:
        activity["name"] = name
    response = await world.client.post("/api/messages", json=activity)
    assert response.status in (200, 400, 501), await response.text()
    assert crashes() == []
    assert_unchanged(before, await stored(world.engine), f"invoke {name!r}")


async def test_the_oracle_accepts_the_real_card(world):
    """The property above is not vacuous: an untouched card is valid and gets stored."""
    data = answers(world.cards["Karen Dolton"], {})
    token = data["token"]
    assert {"red", "amber"} & {data[f"rag_{n}"] for n in world.on_card[token]}  # as the plan says
    assert await _expected_valid(world, data, "Karen Dolton")
    assert not await _expected_valid(world, data, "Mallory Nobody")
    assert not await _expected_valid(world, {**data, "surprise": "x"}, "Karen Dolton")
    first, second = sorted(world.on_card[token])[:2]
    data[f"rag_{first}"], data[f"progress_{first}"] = "green", "Done the audit"
    # Issue 8: a Red or Amber that says something needs a corrective action and a review date.
    red = {**data, f"rag_{second}": "red", f"progress_{second}": "Audit slipped"}
    assert not await _expected_valid(world, red, "Karen Dolton")
    red[f"corrective_{second}"] = "Weekly case audits"
    assert not await _expected_valid(world, red, "Karen Dolton")
    assert not await _expected_valid(world, {**red, f"review_{second}": "2026-11-22"},
                                     "Karen Dolton")  # the day before NOW
    assert not _red_amber_rule_holds({**red, f"review_{second}": "2026-11-22"}, {},
                                     NOW.date())
    red[f"review_{second}"] = "2026-11-23"  # today will do
    assert await _expected_valid(world, red, "Karen Dolton")
    async with world.sessions() as session:
        now = (await session.get(Action, second)).rag
    other = "amber" if now == "red" else "red"  # not the stored RAG: not left as it was
    assert not await _expected_valid(world, {**data, f"rag_{second}": other}, "Karen Dolton")
    assert await _expected_valid(world, {**data, f"rag_{second}": other,
                                         f"nochange_{second}": "true"}, "Karen Dolton")
    past = {**red, f"review_{second}": "2026-11-22"}
    body = await (await _post(world, teams.card_execute(world.url, "checkin.submit",
                                                        past))).json()
    assert "choose today or a later day" in json.dumps(body["value"])
    assert await _updates(world) == 0
    body = await (await _post(world, teams.card_execute(world.url, "checkin.submit",
                                                        red))).json()
    assert "Recorded" in json.dumps(body["value"])
    assert await _updates(world) == 2
    async with world.sessions() as session:
        update = (await session.execute(select(StatusUpdate).where(
            StatusUpdate.action_id == second, StatusUpdate.source == "card"))).scalar_one()
    assert (update.rag, update.corrective_action, update.next_review) == (
        "red", "Weekly case audits", date(2026, 11, 23))
