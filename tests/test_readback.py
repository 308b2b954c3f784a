"""Read-back: a card whose send may have arrived is looked for in the chat before it is resent.

Real CloudAdapter deliveries to the fake connector; a fake Microsoft Graph on the same server
lists what the connector accepted (bench.fake_graph), and bot.readback.GraphReadback asks it.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import timedelta

import pytest
from botbuilder.schema import Activity

from bench.fake_graph import FakeGraph
from bot.adapter import create_adapter
from bot.config import Settings
from bot.proactive import BotDelivery, store_reference
from bot.readback import GraphReadback
from bot.sender import Sender
from cards.common import CONTENT_TYPE
from storage.models import Checkin, ConversationRef, Outbox
from storage.outbox import (
    claim,
    enqueue,
    extend_lease,
    get_reference,
    list_rows,
    marker,
    with_marker,
)
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.test_outbox import make_checkin
from tests.test_sender import FakeClock

APP = "6f1e2b7a-53c4-4d0e-9a51-2b8c1e0f4d7e"
LEASE = timedelta(seconds=60)
CONVERSATION = teams.PERSONAL["id"]


def card_message(text: str) -> dict:
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "content": {
        "type": "AdaptiveCard", "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}]}}]}


@pytest.fixture
def clock(now):
    return FakeClock(now)


@pytest.fixture
async def world(clock):
    graph = FakeGraph(APP, clock=clock.seconds)
    fake, server = await start_connector(clock=clock.seconds, graph=graph)
    url = str(server.make_url("")).rstrip("/") + "/"
    yield fake, graph, url
    await server.close()


def readback_settings(url: str, **extra) -> Settings:
    values = {"app_id": "", "app_password": "", "local": True, "graph_readback": True,
              "graph_url": url + "graph/v1.0", "teams_app_id": APP,
              "graph_token_url": url + "login/{tenant}/oauth2/v2.0/token"}
    return Settings(**(values | extra))


@pytest.fixture
async def readback(world, clock):
    _, _, url = world
    looker = GraphReadback(readback_settings(url), clock=clock)
    yield looker
    await looker.close()


def sender(sessions, clock, readback=None) -> Sender:
    local = Settings(app_id="", app_password="", local=True)
    return Sender(sessions, BotDelivery(create_adapter(local), local, clock=clock), clock,
                  sleep=clock.sleep, rng=random.Random(3), readback=readback, lease=LEASE)


async def prepare(sessions, now, url, conversation=teams.PERSONAL) -> None:
    body = teams.personal_message(url, "hello")
    body["conversation"] = dict(conversation)
    async with sessions() as session, session.begin():
        await store_reference(session=session, activity=Activity().deserialize(body),
                              person_id=None, now=now)


async def queue_checkin(sessions, now, key="checkin:1:1", conversation=CONVERSATION) -> int:
    async with sessions() as session, session.begin():
        checkin = await make_checkin(session)
        await enqueue(session=session, key=key, kind="checkin", conversation_id=conversation,
                      activity=card_message("Your weekly check-in"), now=now,
                      checkin_id=checkin.id)
    return checkin.id


async def the_row(sessions) -> Outbox:
    async with sessions() as session:
        [row] = await list_rows(session=session)
        return row


async def crash_mid_send(sessions, clock, *, arrived: bool) -> None:
    """What a killed process leaves: the row claimed and stamped posted_at (committed), the
    card sent (arrived) or not, and the answer never recorded."""
    async with sessions() as session, session.begin():
        [row] = await claim(session=session, now=clock(), limit=5, lease=LEASE)
        assert await extend_lease(session=session, row_id=row.id, lease_until=row.lease_until,
                                  until=clock() + LEASE, posted_at=clock())
        reference = await get_reference(session=session, conversation_id=row.conversation_id)
    if arrived:
        local = Settings(app_id="", app_password="", local=True)
        result = await BotDelivery(create_adapter(local), local, clock=clock).deliver(
            row, reference.reference_json)
        assert result.ok


async def after_a_kill(sessions, now, clock, url, readback, *, arrived: bool) -> Sender:
    """A card queued, its sender killed mid-send, the lease run out: the sender taking over."""
    await prepare(sessions, now, url)
    await queue_checkin(sessions, now)
    await crash_mid_send(sessions, clock, arrived=arrived)
    clock.advance(61)
    return sender(sessions, clock, readback)


@pytest.mark.parametrize("look", [True, False], ids=["read-back", "no read-back"])
async def test_a_card_that_arrived_before_a_kill_is_found_not_sent_again(
        sessions, now, clock, world, readback, look):
    fake, graph, url = world
    await prepare(sessions, now, url)
    checkin_id = await queue_checkin(sessions, now)
    await crash_mid_send(sessions, clock, arrived=True)
    [first] = fake.sent
    restarted = sender(sessions, clock, readback if look else None)
    assert await restarted.drain_once() == 0  # the dead process's lease still holds
    clock.advance(61)
    assert await restarted.drain_once() == 1
    row = await the_row(sessions)
    assert row.status == "sent"
    if look:  # found in the chat: recorded with that message's id, and Teams gets no 2nd POST
        assert len(fake.sent) == 1 and row.sent_activity_id == first.activity_id
        assert restarted.looked_back == {"found": 1}
        async with sessions() as session:
            checkin = await session.get(Checkin, checkin_id)
        assert (checkin.status, checkin.card_activity_id) == ("sent", first.activity_id)
    else:  # at least once: the lead sees the card twice (what read-back is for)
        assert len(fake.sent) == 2 and graph.counts["requests"] == 0


async def test_a_card_that_never_left_is_looked_for_then_sent_once(
        sessions, now, clock, world, readback):
    fake, graph, url = world
    restarted = await after_a_kill(sessions, now, clock, url, readback, arrived=False)
    assert await restarted.drain_once() == 1
    assert restarted.looked_back == {"not found": 1}
    assert len(fake.sent) == 1 and (await the_row(sessions)).status == "sent"
    # the marker Graph was searched for is in the card that went out, and only in that one
    sent_card = json.dumps(fake.sent[0].body)
    assert marker("checkin:1:1") in sent_card and marker("checkin:1:2") not in sent_card
    assert graph.counts["installedApps"] == graph.counts["chat"] == 1


async def test_an_answer_lost_after_teams_took_the_card_is_not_sent_twice(
        sessions, now, clock, world, readback):
    fake, _, url = world
    await prepare(sessions, now, url)
    await queue_checkin(sessions, now)
    fake.lose_answer_next()
    live = sender(sessions, clock, readback)
    assert await live.drain_once() == 1
    row = await the_row(sessions)
    assert row.status == "pending" and row.posted_at == now  # outcome unknown: kept
    clock.advance(120)
    assert await live.drain_once() == 1
    row = await the_row(sessions)
    assert row.status == "sent" and live.looked_back == {"found": 1}
    assert len(fake.requests) == 1 and row.sent_activity_id == fake.sent[0].activity_id


@pytest.mark.parametrize("look", [True, False], ids=["read-back", "no read-back"])
async def test_each_send_is_stamped_before_it_goes_only_when_read_back_is_on(
        sessions, now, clock, world, readback, look):
    fake, _, url = world
    await prepare(sessions, now, url)
    await queue_checkin(sessions, now)
    fake.fail_next(502)
    live = sender(sessions, clock, readback if look else None)
    await live.drain_once()
    row = await the_row(sessions)  # a 502: Teams may have taken it, so posted_at is kept
    assert row.status == "pending" and row.posted_at == now
    clock.advance(30)
    await live.drain_once()
    row = await the_row(sessions)
    assert row.status == "sent" and len(fake.sent) == 1
    assert live.looked_back == ({"not found": 1} if look else {})
    # the stamp of the send that went through: committed before it only with read-back on
    assert row.posted_at == (now + timedelta(seconds=30) if look else now)


async def test_a_429_means_not_taken_so_the_retry_does_not_ask_graph(
        sessions, now, clock, world, readback):
    fake, graph, url = world
    await prepare(sessions, now, url)
    await queue_checkin(sessions, now)
    fake.fail_next(429, retry_after=2)
    live = sender(sessions, clock, readback)
    await live.drain_once()
    assert (await the_row(sessions)).posted_at is None
    clock.advance(5)
    await live.drain_once()
    assert (await the_row(sessions)).status == "sent" and len(fake.sent) == 1
    assert graph.counts["requests"] == 0 and not live.looked_back


async def test_graph_busy_is_asked_again_later_and_graph_refusing_falls_back_to_sending(
        sessions, now, clock, world, readback):
    fake, graph, url = world
    restarted = await after_a_kill(sessions, now, clock, url, readback, arrived=False)
    graph.fail_next(503)
    assert await restarted.drain_once() == 1
    row = await the_row(sessions)
    assert row.status == "pending" and fake.sent == []
    assert row.last_error.startswith("could not check whether the last send arrived: Graph "
                                     "answered 503")
    assert row.posted_at == now  # still unknown: the next try looks again
    graph.fail_next(403)  # no permission: asking again will not help, so send (at least once)
    clock.advance(120)
    assert await restarted.drain_once() == 1
    assert (await the_row(sessions)).status == "sent" and len(fake.sent) == 1
    assert restarted.looked_back == {"unknown": 2}


async def test_graphreadback_signs_in_once_finds_its_own_app_chat_and_reads_pages(
        sessions, now, clock, world):
    fake, graph, url = world
    await prepare(sessions, now, url)
    settings = readback_settings(url, app_id=APP, app_password="a-real-secret")
    looker = GraphReadback(settings, clock=clock)
    try:
        async with sessions() as session:
            reference = await get_reference(session=session, conversation_id=CONVERSATION)
        target = Outbox(idempotency_key="checkin:9:9", kind="checkin", activity_json="{}",
                        conversation_id=CONVERSATION, posted_at=clock())
        body = json.loads(teams_body(url))
        graph.record(with_marker(card_message("the one"), "checkin:9:9") | body, CONVERSATION,
                     "wanted")
        for number in range(120):  # newer messages push it to the third page
            clock.advance(1)
            graph.record(card_message(f"later {number}") | body, CONVERSATION, f"m{number}")
        found = await looker.find(target, reference)
        assert (found.found, found.message_id) == (True, "wanted")
        assert graph.counts["messages"] == 3
        listing = next(asked for asked in graph.asked if "/messages?" in asked)
        assert ("?$top=50&$orderby=lastModifiedDateTime%20desc&$filter=lastModifiedDateTime"
                "%20gt%20") in listing  # OData options as Graph documents them, no '+'
        missing = Outbox(idempotency_key="checkin:9:8", kind="checkin", activity_json="{}",
                         conversation_id=CONVERSATION, posted_at=clock())
        assert (await looker.find(missing, reference)).found is False
        # one token for both look-ups, sent on every Graph call; the chat id looked up once
        assert graph.tokens_issued == 1
        assert set(graph.authorizations) == {"Bearer fake-graph-token-1"}
        assert graph.counts["installedApps"] == graph.counts["chat"] == 1
        # a message older than posted_at minus the skew is not searched
        late = Outbox(idempotency_key="checkin:9:9", kind="checkin", activity_json="{}",
                      conversation_id=CONVERSATION, posted_at=clock() + timedelta(minutes=10))
        assert (await looker.find(late, reference)).found is False
    finally:
        await looker.close()


def teams_body(url: str) -> str:
    """The parts of a sent activity fake Graph keys a 1:1 chat on (recipient, conversation)."""
    return json.dumps({"recipient": teams.USER, "conversation": teams.PERSONAL,
                       "serviceUrl": url})


def stored(conversation: dict, **columns) -> ConversationRef:
    """A ConversationRef as store_reference would keep it (not saved)."""
    return ConversationRef(conversation_id=conversation.get("conversation", {}).get("id", "?"),
                           service_url="https://smba.example/",
                           reference_json=json.dumps(conversation), **columns)


async def test_references_the_read_back_cannot_use_get_a_clear_final_answer(
        now, readback, world):
    row = Outbox(idempotency_key="digest:1:1:w", kind="digest", activity_json="{}",
                 conversation_id="19:x@thread.tacv2", posted_at=now)
    channel = {"conversation": {"conversationType": "channel", "id": "19:x@thread.tacv2"}}
    found = await readback.find(row, stored(channel, kind="channel", team_id="19:t@thread"))
    assert found.found is None and found.final
    assert "group id is not known" in found.error
    anonymous = {"conversation": {"conversationType": "personal", "id": "a:1"},
                 "user": {"id": "29:1"}}
    found = await readback.find(row, stored(anonymous))
    assert found.found is None and found.final and "no AAD object id" in found.error
    garbage = stored({})
    garbage.reference_json = "not json"
    found = await readback.find(row, garbage)
    assert found.found is None and found.final
    assert world[1].counts["requests"] == 0  # none of them asked Graph anything


@pytest.mark.parametrize("installed_first", [True, False], ids=["installed", "mentioned"])
async def test_a_digest_in_a_channel_is_found_through_its_teams_group(
        sessions, now, clock, world, readback, installed_first):
    fake, graph, url = world
    # Only the team installation carries the team's group id; a channel of the same team
    # stored before or after it gets it too.
    events = [teams.team_installation(url), teams.channel_mention(url, "subscribe")]
    for event in events if installed_first else events[::-1]:
        async with sessions() as session, session.begin():
            await store_reference(session=session, activity=Activity().deserialize(event),
                                  person_id=None, now=now)
    channel = "19:4d5e6f@thread.tacv2"
    async with sessions() as session:
        reference = await get_reference(session=session, conversation_id=channel)
    group = teams.team_installation(url)["channelData"]["team"]["aadGroupId"]
    assert (reference.kind, reference.aad_group_id) == ("channel", group)
    async with sessions() as session, session.begin():
        await enqueue(session=session, key="digest:1:1:2026-W48", kind="digest",
                      conversation_id=channel, activity=card_message("Weekly digest"), now=now)
    await crash_mid_send(sessions, clock, arrived=True)
    clock.advance(61)
    restarted = sender(sessions, clock, readback)
    assert await restarted.drain_once() == 1
    assert restarted.looked_back == {"found": 1} and len(fake.sent) == 1
    assert graph.groups == [group] and (await the_row(sessions)).status == "sent"


async def test_a_wrong_secret_is_a_clear_final_error(world, clock, now):
    _, _, url = world
    settings = readback_settings(url, app_id=APP, app_password="a-real-secret")
    looker = GraphReadback(settings, clock=clock)
    looker._secret = ""  # noqa: SLF001 - the fake refuses a client without a secret
    try:
        row = Outbox(idempotency_key="k", kind="checkin", activity_json="{}",
                     conversation_id=CONVERSATION, posted_at=now)
        reference = {"conversation": dict(teams.PERSONAL), "user": dict(teams.USER)}
        found = await looker.find(row, stored(reference))
        assert found.found is None and found.final
        assert found.error.startswith(f"no Graph token for tenant {teams.TENANT} (HTTP 401)")
    finally:
        await looker.close()


def test_every_queued_card_carries_its_rows_marker_and_stays_valid():
    activity = card_message("Weekly check-in")
    marked = with_marker(activity, "checkin:7:3")
    assert activity == card_message("Weekly check-in")  # the caller's dict is left alone
    card = marked["attachments"][0]["content"]
    assert card["body"][-1] == {"type": "Container", "id": marker("checkin:7:3"),
                                "isVisible": False, "items": []}
    assert_valid_card(card)
    assert marker("checkin:7:3") != marker("checkin:7:4")
    text = {"type": "message", "text": "no card"}
    assert with_marker(copy.deepcopy(text), "k") == text


def test_readback_needs_the_bots_credentials_outside_local_mode():
    with pytest.raises(ValueError, match="PLANBOT_GRAPH_READBACK needs MicrosoftAppId"):
        Settings(app_id="", app_password="", local=False, graph_readback=True)
    with pytest.raises(ValueError, match="managed identity is not supported"):
        Settings(app_id=APP, app_password="", app_type="UserAssignedMSI", graph_readback=True)
    assert Settings(app_id=APP, app_password="s3cr3t-value", graph_readback=True).graph_readback


async def test_channel_data_of_the_wrong_type_is_not_stored(sessions, now):
    event = teams.team_installation("https://smba.example/")
    event["channelData"]["team"] = {"id": {"nested": 1}, "aadGroupId": ["x"], "name": 5}
    event["channelData"]["tenant"] = {"id": 7}
    async with sessions() as session, session.begin():
        reference = await store_reference(session=session, now=now, person_id=None,
                                          activity=Activity().deserialize(event))
    assert (reference.team_id, reference.aad_group_id, reference.tenant_id) == (None,) * 3
    assert reference.kind == "channel" and reference.conversation_id == "19:abc123@thread.tacv2"
