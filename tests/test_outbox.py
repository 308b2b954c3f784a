"""The outbox repository: idempotent enqueue, leased claims, outcomes, conversation references."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from botbuilder.schema import Activity
from sqlalchemy import select

from bot.proactive import store_reference
from storage.models import Checkin, CheckinRound, ConversationRef, Outbox, Person, Plan
from storage.outbox import (
    claim,
    enqueue,
    extend_lease,
    list_rows,
    mark_failed,
    mark_retry,
    mark_sent,
    pending_count,
)
from tests.fakes import teams

LEASE = timedelta(seconds=60)
MESSAGE = {"type": "message", "text": "Your weekly check-in"}


async def make_checkin(session, token: str = "tok-1") -> Checkin:
    """A plan, a lead, a round and one pending check-in."""
    plan = Plan(slug=f"plan-{token}", name="Demo Plan")
    person = Person(display_name="Karen Dolton")
    session.add_all([plan, person])
    await session.flush()
    round_ = CheckinRound(plan_id=plan.id, period="2026-W48")
    session.add(round_)
    await session.flush()
    checkin = Checkin(round_id=round_.id, person_id=person.id, token=token)
    session.add(checkin)
    await session.flush()
    return checkin


async def put(sessions, now, key: str, conversation_id: str = "conv-1", **extra) -> bool:
    """Enqueue one message in its own transaction."""
    async with sessions() as session, session.begin():
        return await enqueue(session=session, key=key, kind=extra.pop("kind", "notice"),
                             conversation_id=conversation_id, activity=MESSAGE, now=now,
                             **extra)


async def test_enqueue_twice_with_one_key_gives_one_row(sessions, now):
    async with sessions() as session, session.begin():
        assert await enqueue(session=session, key="round-1:karen:checkin", kind="checkin",
                             conversation_id="conv-1", activity=MESSAGE, now=now)
        assert not await enqueue(session=session, key="round-1:karen:checkin", kind="checkin",
                                 conversation_id="conv-1", activity={"text": "other"}, now=now)
        session.add(Person(display_name="still in the transaction"))  # it survived
    assert not await put(sessions, now, "round-1:karen:checkin")
    async with sessions() as session:
        [row] = await list_rows(session=session)
        assert row.status == "pending" and row.attempts == 0 and row.next_attempt_at == now
        assert "weekly" in row.activity_json
        assert (await session.execute(select(Person))).scalars().one()


async def test_enqueue_rolls_back_with_the_callers_transaction(sessions, now):
    async with sessions() as session:
        async with session.begin():
            assert await enqueue(session=session, key="k1", kind="notice",
                                 conversation_id="conv-1", activity=MESSAGE, now=now)
            await session.rollback()
    async with sessions() as session:
        assert await list_rows(session=session) == []


async def test_claim_leases_due_rows_oldest_first_and_reclaims_expired_leases(sessions, now):
    await put(sessions, now + timedelta(seconds=5), "newer")
    await put(sessions, now, "older")
    await put(sessions, now + timedelta(hours=1), "later")  # not due yet
    async with sessions() as session, session.begin():
        rows = await claim(session=session, now=now + timedelta(seconds=10), limit=10,
                           lease=LEASE)
    assert [row.idempotency_key for row in rows] == ["older", "newer"]
    assert all(row.status == "sending" and row.attempts == 1 for row in rows)
    assert rows[0].lease_until == now + timedelta(seconds=10) + LEASE
    async with sessions() as session, session.begin():  # leased: nobody else gets them
        assert await claim(session=session, now=now + timedelta(seconds=30), limit=10,
                           lease=LEASE) == []
        assert await pending_count(session=session) == 3
    async with sessions() as session, session.begin():  # the lease ran out: claimed again
        again = await claim(session=session, now=now + timedelta(seconds=71), limit=1,
                            lease=LEASE)
    assert [(row.idempotency_key, row.attempts) for row in again] == [("older", 2)]


async def test_outcomes_and_the_checkin_fields(sessions, now):
    async with sessions() as session, session.begin():
        checkin = await make_checkin(session)
        await enqueue(session=session, key="card", kind="checkin", conversation_id="conv-1",
                      activity=MESSAGE, now=now, checkin_id=checkin.id)
        await enqueue(session=session, key="chaser", kind="chaser", conversation_id="conv-1",
                      activity=MESSAGE, now=now, checkin_id=checkin.id)
        await enqueue(session=session, key="other", kind="notice", conversation_id="conv-2",
                      activity=MESSAGE, now=now)
    async with sessions() as session, session.begin():
        card, chaser, other = await claim(session=session, now=now, limit=10, lease=LEASE)
    later = now + timedelta(minutes=1)
    async with sessions() as session, session.begin():
        assert await mark_sent(session=session, row_id=card.id, activity_id="act-1", now=now)
        assert await mark_sent(session=session, row_id=chaser.id, activity_id="act-2",
                               now=later)
        assert not await mark_sent(session=session, row_id=card.id, activity_id="x", now=later)
        assert not await mark_retry(session=session, row_id=card.id, error="late",
                                    next_attempt_at=later)
        assert not await mark_failed(session=session, row_id=card.id, error="late", now=later)
        assert await mark_retry(session=session, row_id=other.id, error="HTTP 503",
                                next_attempt_at=later)
    async with sessions() as session:
        rows = {row.idempotency_key: row for row in await list_rows(session=session)}
        saved = await session.get(Checkin, checkin.id)
        assert await pending_count(session=session) == 1
        assert [row.idempotency_key for row in await list_rows(session=session,
                                                                status="sent")] == ["card",
                                                                                    "chaser"]
    assert rows["card"].sent_activity_id == "act-1" and rows["card"].sent_at == now
    assert rows["card"].lease_until is None
    assert (rows["other"].status, rows["other"].last_error) == ("pending", "HTTP 503")
    assert rows["other"].next_attempt_at == later
    # the check-in remembers the card (not the chaser) so the card can be updated in place
    assert (saved.status, saved.card_activity_id, saved.conversation_id, saved.sent_at) == (
        "sent", "act-1", "conv-1", now)
    async with sessions() as session, session.begin():
        assert await mark_failed(session=session, row_id=other.id, error="HTTP 403", now=later)
        assert await pending_count(session=session) == 0


async def test_extend_lease_only_for_the_lease_we_hold(sessions, now):
    await put(sessions, now, "k1")
    async with sessions() as session, session.begin():
        [row] = await claim(session=session, now=now, limit=1, lease=LEASE)
    async with sessions() as session, session.begin():
        assert await extend_lease(session=session, row_id=row.id, lease_until=row.lease_until,
                                  until=now + 2 * LEASE)
        assert not await extend_lease(session=session, row_id=row.id,
                                      lease_until=row.lease_until, until=now + 3 * LEASE)
        assert (await session.get(Outbox, row.id)).lease_until == now + 2 * LEASE


async def test_two_concurrent_claimers_never_get_the_same_row(engine, sessions, now):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one sender process; SKIP LOCKED is a PostgreSQL feature")
    async with sessions() as session, session.begin():
        for number in range(40):
            await enqueue(session=session, key=f"k{number}", kind="notice",
                          conversation_id=f"conv-{number % 4}", activity=MESSAGE, now=now)
    first, second = sessions(), sessions()
    async with first, second:
        async with first.begin():  # the first claimer holds its locks while the second runs
            mine = await claim(session=first, now=now, limit=15, lease=LEASE)
            async with second.begin():
                theirs = await claim(session=second, now=now, limit=15, lease=LEASE)

    async def claimer() -> list[int]:
        got: list[int] = []
        while True:
            async with sessions() as session, session.begin():
                rows = await claim(session=session, now=now, limit=3, lease=LEASE)
            if not rows:
                return got
            got += [row.id for row in rows]
            await asyncio.sleep(0)

    racing = await asyncio.gather(*(claimer() for _ in range(4)))
    ids = [row.id for row in mine + theirs] + [i for got in racing for i in got]
    assert len(mine) == len(theirs) == 15
    assert len(ids) == len(set(ids)) == 40


async def test_store_reference_upserts_and_posts_channel_messages_as_new_threads(
        sessions, now):
    url = "https://smba.trafficmanager.net/emea/"
    personal = Activity().deserialize(teams.personal_message(url, "hi"))
    mention = Activity().deserialize(teams.channel_mention(url, "help"))
    async with sessions() as session, session.begin():
        person = Person(display_name="Karen Dolton")
        session.add(person)
        await session.flush()
        first = await store_reference(session=session, now=now, person_id=person.id,
                                      activity=personal)
        again = await store_reference(session=session, now=now + timedelta(days=1),
                                      person_id=None, activity=personal)
        channel = await store_reference(session=session, now=now, person_id=None,
                                        activity=mention)
    assert first.id == again.id and again.person_id == person.id
    assert again.updated_at == now + timedelta(days=1) and again.kind == "personal"
    assert again.tenant_id == teams.TENANT and again.service_url == url
    assert channel.conversation_id == "19:4d5e6f@thread.tacv2"
    assert (channel.kind, channel.team_id, channel.name) == (
        "channel", "19:abc123@thread.tacv2", "Improvement Board")
    assert '"id": "19:4d5e6f@thread.tacv2"' in channel.reference_json
    async with sessions() as session:
        assert len((await session.execute(select(ConversationRef))).all()) == 2
