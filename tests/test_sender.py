"""The sender: real CloudAdapter deliveries to a fake connector with injected faults and time."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytest
from botbuilder.schema import Activity

from bot.adapter import create_adapter
from bot.config import Settings
from bot.proactive import BotDelivery, DeliveryResult, parse_retry_after, store_reference
from bot.sender import Sender
from storage.models import Checkin, Outbox
from storage.outbox import claim, enqueue, list_rows, mark_sent
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.test_outbox import make_checkin

LOCAL = Settings(app_id="", app_password="", local=True)
CONVERSATION = teams.PERSONAL["id"]


class FakeClock:
    """Time that moves only when someone sleeps (or a test advances it)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


@pytest.fixture
def clock(now):
    return FakeClock(now)


@pytest.fixture
async def connector(request, clock):
    options = getattr(request, "param", {})
    fake, server = await start_connector(clock=clock.seconds, **options)
    yield fake, str(server.make_url("")).rstrip("/") + "/"
    await server.close()


def make_sender(sessions, clock, **options) -> Sender:
    delivery = BotDelivery(create_adapter(LOCAL), LOCAL, clock=clock)
    return Sender(sessions, delivery, clock, sleep=clock.sleep, rng=random.Random(7), **options)


def conversation(url: str, conversation_id: str = CONVERSATION) -> Activity:
    body = teams.personal_message(url, "hello")
    body["conversation"]["id"] = conversation_id
    return Activity().deserialize(body)


async def prepare(sessions, now, url: str, *conversations: str) -> None:
    async with sessions() as session, session.begin():
        for conversation_id in conversations or (CONVERSATION,):
            await store_reference(session=session, activity=conversation(url, conversation_id),
                                  person_id=None, now=now)


async def queue(sessions, now, key: str, conversation_id: str = CONVERSATION) -> None:
    async with sessions() as session, session.begin():
        await enqueue(session=session, key=key, kind="notice", conversation_id=conversation_id,
                      now=now, activity={"type": "message", "text": key})


async def rows(sessions) -> dict[str, Outbox]:
    async with sessions() as session:
        return {row.idempotency_key: row for row in await list_rows(session=session, limit=500)}


async def test_delivers_once_through_the_cloud_adapter_and_records_the_card(
        sessions, now, clock, connector):
    fake, url = connector
    await prepare(sessions, now, url)
    async with sessions() as session, session.begin():
        checkin = await make_checkin(session)
        await enqueue(session=session, key="card", kind="checkin", conversation_id=CONVERSATION,
                      activity={"type": "message", "text": "Your check-in"}, now=now,
                      checkin_id=checkin.id)
    sender = make_sender(sessions, clock)
    assert await sender.drain_once() == 1
    assert await sender.drain_once() == 0
    [sent] = fake.sent
    assert sent.path == f"/v3/conversations/{CONVERSATION}/activities"  # a top-level post
    assert sent.body["text"] == "Your check-in" and sent.authorization is None
    assert sent.body["recipient"]["id"] == teams.USER["id"]
    row = (await rows(sessions))["card"]
    assert (row.status, row.attempts, row.sent_activity_id) == ("sent", 1, sent.activity_id)
    async with sessions() as session:
        saved = await session.get(Checkin, checkin.id)
    assert (saved.status, saved.card_activity_id, saved.conversation_id, saved.sent_at) == (
        "sent", sent.activity_id, CONVERSATION, now)


async def test_429_waits_for_retry_after_and_pauses_every_send(sessions, now, clock, connector):
    fake, url = connector
    await prepare(sessions, now, url, CONVERSATION, "a:other")
    await queue(sessions, now, "first")
    fake.fail_next(429, retry_after=1)
    sender = make_sender(sessions, clock)
    assert await sender.drain_once() == 1
    row = (await rows(sessions))["first"]
    assert (row.status, row.next_attempt_at) == ("pending", now + timedelta(seconds=1))
    await queue(sessions, now, "second", "a:other")  # another conversation, due now
    assert await sender.drain_once() == 1  # claimed, but held until the pause ends
    assert [item.body["text"] for item in fake.sent] == ["second"]
    assert fake.sent[0].at >= now.timestamp() + 1
    assert await sender.drain_once() == 1
    assert fake.statuses() == [429, 200, 200]
    assert [item.body["text"] for item in fake.sent] == ["second", "first"]
    assert fake.sent[1].at - fake.requests[0].at >= 1
    assert (await rows(sessions))["first"].attempts == 2


def test_retry_after_in_seconds_or_as_an_http_date(now):
    assert parse_retry_after(format_datetime(now + timedelta(seconds=2), usegmt=True), now) == 2
    assert parse_retry_after("2", now) == 2 and parse_retry_after("0.5", now) == 0.5
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


async def test_500_twice_then_ok_is_delivered_once_on_the_third_attempt(
        sessions, now, clock, connector):
    fake, url = connector
    await prepare(sessions, now, url)
    await queue(sessions, now, "k")
    fake.fail_next(500, times=2)
    sender = make_sender(sessions, clock)
    for _ in range(3):
        assert await sender.drain_once() == 1
        clock.advance(60)  # the backoff cap
    row = (await rows(sessions))["k"]
    assert (row.status, row.attempts, len(fake.sent)) == ("sent", 3, 1)
    assert fake.statuses() == [500, 500, 200]


@pytest.mark.parametrize("status", [403, 404, 400])
async def test_blocked_or_bad_request_fails_without_retry(sessions, now, clock, connector,
                                                          status):
    fake, url = connector
    await prepare(sessions, now, url)
    await queue(sessions, now, "k")
    fake.fail_next(status)
    sender = make_sender(sessions, clock)
    assert await sender.drain_once() == 1
    clock.advance(3600)
    assert await sender.drain_once() == 0
    row = (await rows(sessions))["k"]
    assert (row.status, row.attempts, len(fake.requests)) == ("failed", 1, 1)
    assert f"HTTP {status}" in row.last_error
    assert ("blocked the bot" in row.last_error) == (status in (403, 404))


async def test_dropped_connection_is_retried(sessions, now, clock, connector):
    fake, url = connector
    await prepare(sessions, now, url)
    await queue(sessions, now, "k")
    fake.drop_next()
    sender = make_sender(sessions, clock)
    assert await sender.drain_once() == 1
    assert "RemoteDisconnected" in (await rows(sessions))["k"].last_error
    clock.advance(60)
    assert await sender.drain_once() == 1
    assert fake.statuses() == [0, 200]
    assert (await rows(sessions))["k"].status == "sent"


async def test_no_reference_and_too_many_attempts_fail(sessions, now, clock, connector):
    fake, url = connector
    await prepare(sessions, now, url)
    await queue(sessions, now, "lost", "a:never-installed")
    await queue(sessions, now, "k")
    fake.fail_next(503, times=10)
    sender = make_sender(sessions, clock, max_attempts=3)
    for _ in range(4):
        await sender.drain_once()
        clock.advance(60)
    found = await rows(sessions)
    assert (found["lost"].status, found["lost"].last_error) == (
        "failed", "no conversation reference")
    assert (found["k"].status, found["k"].attempts) == ("failed", 3)
    assert found["k"].last_error.startswith("gave up after 3 attempts; last error: HTTP 503")
    assert fake.sent == [] and len(fake.requests) == 3


async def test_crash_safety_expired_leases_are_resent_and_sent_rows_never(
        sessions, now, clock, connector):
    fake, url = connector
    await prepare(sessions, now, url)
    await queue(sessions, now, "orphan")
    await queue(sessions, now, "done")
    async with sessions() as session, session.begin():  # a process claimed both, then died
        orphan, done = await claim(session=session, now=now, limit=10,
                                   lease=timedelta(seconds=60))
        await mark_sent(session=session, row_id=done.id, activity_id="old-id", now=now)
    sender = make_sender(sessions, clock)
    assert await sender.drain_once() == 0  # still leased by the dead process
    clock.advance(61)
    assert await sender.drain_once() == 1
    clock.advance(86400)
    assert await sender.drain_once() == 0
    assert [item.body["text"] for item in fake.sent] == ["orphan"]
    found = await rows(sessions)
    assert (found["orphan"].status, found["orphan"].attempts) == ("sent", 2)
    assert found["done"].sent_activity_id == "old-id"


@pytest.mark.parametrize("connector", [{"enforce_limits": True}], indirect=True)
async def test_100_messages_to_10_conversations_respect_teams_limits(
        sessions, now, clock, connector):
    fake, url = connector
    conversations = [f"a:conversation-{number}" for number in range(10)]
    await prepare(sessions, now, url, *conversations)
    for number in range(100):
        await queue(sessions, now, f"m{number:03}", conversations[number % 10])
    sender = make_sender(sessions, clock)
    while await sender.drain_once():
        pass
    assert 429 not in fake.statuses()
    assert len(fake.sent) == 100 and len(fake.requests) == 100
    for conversation_id in conversations:  # and in order within each conversation
        texts = [item.body["text"] for item in fake.sent
                 if item.conversation_id == conversation_id]
        assert texts == sorted(texts) and len(texts) == 10
    assert clock.seconds() - now.timestamp() >= 2  # 8 sends per 2 s per conversation


@pytest.mark.parametrize("connector", [{"error_rate": 0.3, "seed": 42}], indirect=True)
async def test_random_500s_still_deliver_everything_exactly_once(sessions, now, clock,
                                                                 connector):
    fake, url = connector
    await prepare(sessions, now, url, "a:1", "a:2", "a:3")
    for number in range(30):
        await queue(sessions, now, f"m{number}", f"a:{number % 3 + 1}")
    sender = make_sender(sessions, clock, max_attempts=20)
    for _ in range(40):
        await sender.drain_once()
        clock.advance(60)
    assert 500 in fake.statuses()
    assert Counter(item.body["text"] for item in fake.sent) == {f"m{n}": 1 for n in range(30)}
    assert {row.status for row in (await rows(sessions)).values()} == {"sent"}


async def test_global_rate_is_kept(sessions, now, clock):
    class Instant:
        def __init__(self) -> None:
            self.at: list[float] = []

        async def deliver(self, row: Outbox, reference_json: str) -> DeliveryResult:
            self.at.append(clock.seconds())
            return DeliveryResult(ok=True, activity_id=f"id-{row.id}")

    delivery = Instant()
    await prepare(sessions, now, "https://smba.example/", *[f"a:{n}" for n in range(100)])
    for number in range(100):
        await queue(sessions, now, f"m{number}", f"a:{number}")
    sender = Sender(sessions, delivery, clock, sleep=clock.sleep, rate_per_second=10,
                    batch=100)
    assert await sender.drain_once() == 100
    start = now.timestamp()
    for first in delivery.at:  # evenly spaced: never more than 11 in any second
        assert sum(1 for at in delivery.at if first <= at < first + 1) <= 11
    assert max(delivery.at) - start >= 9.8


async def test_run_drains_until_stopped(sessions, now, clock, connector):
    fake, url = connector
    await prepare(sessions, now, url)
    await queue(sessions, now, "k")
    stop = asyncio.Event()

    async def rest(seconds: float) -> None:  # the sender rests once the outbox is empty
        stop.set()
        await clock.sleep(seconds)

    sender = Sender(sessions, BotDelivery(create_adapter(LOCAL), LOCAL, clock=clock), clock,
                    sleep=rest)
    await asyncio.wait_for(sender.run(stop), 5)
    assert len(fake.sent) == 1 and (await rows(sessions))["k"].status == "sent"


class _Recorder:
    """A delivery that records what it sent and can be held back by the test."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def deliver(self, row, reference_json):
        await self.gate.wait()
        self.sent.append(row.idempotency_key)
        return DeliveryResult(ok=True, activity_id=f"a-{row.id}")


async def test_rows_waiting_past_their_lease_are_renewed_not_claimed_again(sessions, clock,
                                                                           now):
    """A row can wait in a sender longer than its lease (behind its conversation's earlier
    cards, or the rate limit). The lease keeper renews it; and should the sender claim it again
    all the same, it keeps one copy under the new lease: sent once, never given up on."""
    await prepare(sessions, now, "http://127.0.0.1:1/")
    for number in range(3):
        await queue(sessions, now, f"held-{number}")
    recorder = _Recorder()
    sender = Sender(sessions, recorder, clock, sleep=clock.sleep, rng=random.Random(7),
                    lease=timedelta(seconds=20), batch=10)
    recorder.gate.clear()  # the connector hangs: every claimed row waits in the sender
    rows_, references = await sender._claim()
    deliveries = asyncio.create_task(sender._deliver(rows_, references))
    await asyncio.sleep(0)
    clock.advance(12)  # past half the lease
    assert await sender.renew_leases() == 3
    async with sessions() as session:  # renewed, so nobody can claim them
        assert await claim(session=session, now=clock(), limit=10,
                           lease=timedelta(seconds=20)) == []
    clock.advance(25)  # past the renewed lease too: the sender itself claims them again
    again, _ = await sender._claim()
    assert again == []  # the waiting copies took the new lease; no second copy queued
    recorder.gate.set()
    await deliveries
    assert sorted(recorder.sent) == ["held-0", "held-1", "held-2"]
    statuses = {key: row.status for key, row in (await rows(sessions)).items()}
    assert statuses == {"held-0": "sent", "held-1": "sent", "held-2": "sent"}
    assert sender._held == {}
