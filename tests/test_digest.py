"""The weekly digest: subscribe a channel by @mention, what the card says, posting it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import ADAPTER, create_app
from bot.config import Settings
from bot.proactive import BotDelivery
from bot.scheduler import Scheduler
from bot.sender import Sender
from cards.digest import DigestView, digest_card
from dialogs.context import system_clock
from dialogs.digest import digest_view, queue_digests
from storage.importers.registry import read_plan_file
from storage.models import Action, ChannelSubscription, Outbox, Plan
from storage.plans import save_draft
from storage.updates import record_update
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.truthcheck import PLANS

NOW = datetime(2026, 11, 27, 15, 0, 30, tzinfo=UTC)  # Friday of 2026-W48, 15:00 in London
CHANNEL_ID = teams.CHANNEL["id"].split(";messageid=")[0]


@pytest.fixture
async def bot(engine, sessions):
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    app = create_app(Settings(app_id="", app_password="", local=True), engine, clock=lambda: NOW)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW - timedelta(days=60), draft=read_plan_file(
            PLANS / "manchester-improvement-plan-2015-rag.txt"))
        actions = {a.ref: a for a in (await session.execute(select(Action))).scalars()}
        for ref, rag, days in (("4a", "red", 2), ("3d", "blue", 1), ("10h", "amber", 3)):
            await record_update(session=session, action=actions[ref], source="card", rag=rag,
                                at=NOW - timedelta(days=days), progress="seeded",
                                evidence="audit report" if rag == "blue" else None)
    yield client, fake, url, app
    await client.close()
    await server.close()


async def test_subscribe_by_mention_in_a_channel(bot, sessions):
    client, fake, url, _ = bot
    for _ in range(2):
        await client.post("/api/messages", json=teams.channel_mention(
            url, "subscribe this channel to the digest"))
    async with sessions() as session:
        subscriptions = (await session.execute(select(ChannelSubscription))).scalars().all()
    assert [s.conversation_id for s in subscriptions] == [CHANNEL_ID]  # once, without thread
    assert "already gets the weekly plan digest" in fake.messages()[-1]["text"]
    await client.post("/api/messages", json=teams.personal_message(url, "subscribe"))
    assert "goes to a channel" in fake.messages()[-1]["text"]
    await client.post("/api/messages", json=teams.channel_mention(url, "unsubscribe"))
    async with sessions() as session:
        assert (await session.execute(select(ChannelSubscription))).scalars().all() == []


async def test_the_digest_says_what_changed_this_week(sessions):
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW - timedelta(days=60), draft=read_plan_file(
            PLANS / "manchester-improvement-plan-2015-rag.txt"))
        actions = {a.ref: a for a in (await session.execute(select(Action))).scalars()}
        await record_update(session=session, action=actions["4a"], source="card", rag="red",
                            at=NOW - timedelta(days=2))
        await record_update(session=session, action=actions["3d"], source="card", rag="blue",
                            evidence="review", at=NOW - timedelta(days=1))
        plan = (await session.execute(select(Plan))).scalar_one()
        view = await digest_view(session, plan, now=NOW, tz="Europe/London")
    quality = view.counts["Quality of practice and capacity"]
    assert quality["red"] == (7, 6) and quality["blue"] == (1, 0)  # 4a went red, 3d blue
    assert [line.ref for line in view.worse] == ["4a"] and view.worse[0].was == "amber"
    assert [line.ref for line in view.new_blue] == ["3d"]
    assert "3d" not in [line.ref for line in view.overdue]  # Blue is never overdue
    assert "1a" in [line.ref for line in view.overdue]  # Feb-15, RED
    card = digest_card(view)
    assert_valid_card(card)
    assert "🔴 7 (▲1)" in str(card) and "4a" in str(card)


def test_a_big_plan_still_fits_in_one_card():
    from cards.digest import DigestLine

    many = [DigestLine(ref=f"{n}.1", title="x" * 300, rag="red", due_text="Mar 24")
            for n in range(500)]
    view = DigestView(plan_name="P" * 200, week_label="week", worse=many, overdue=many,
                      new_blue=many, not_updated=[f"Lead {n}" for n in range(400)],
                      counts={f"Theme {n}": {"red": (n, n + 1)} for n in range(40)})
    assert_valid_card(digest_card(view))  # validation includes the 80 KB limit


async def test_digest_is_posted_to_the_channel_on_friday_once(bot, sessions):
    client, fake, url, app = bot
    await client.post("/api/messages", json=teams.channel_mention(url, "subscribe"))
    fake.sent.clear()
    clock = {"now": NOW - timedelta(minutes=1)}
    scheduler = Scheduler(sessions, lambda: clock["now"])
    await scheduler.tick()
    async with sessions() as session:
        assert (await session.execute(select(Outbox).where(Outbox.kind == "digest"))
                ).scalars().all() == []  # 14:59: not yet
    clock["now"] = NOW
    assert "digest: 1 card(s) queued" in await scheduler.tick()
    assert "digest: 1 card(s) queued" not in await scheduler.tick()  # once a week
    offset = NOW - system_clock()

    def moving() -> datetime:  # NOW, but moving (the sender's rate limiter needs time to pass)
        return system_clock() + offset

    settings = Settings(app_id="", app_password="", local=True)
    sender = Sender(sessions, BotDelivery(app[ADAPTER], settings, clock=moving), moving)
    await sender.drain_once()
    [sent] = fake.sent
    assert sent.conversation_id == CHANNEL_ID
    card = sent.body["attachments"][0]["content"]
    assert_valid_card(card)
    assert "Weekly plan digest" in str(card) and "4a" in str(card)


async def test_digest_now_queues_again_even_the_same_week(sessions):
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW, draft=read_plan_file(
            PLANS / "rochdale-improvement-notice-2014.txt"))
        session.add(ChannelSubscription(conversation_id="19:board@thread.tacv2", created_at=NOW))
    for suffix in ("now-1", "now-2"):
        async with sessions() as session, session.begin():
            assert await queue_digests(session=session, now=NOW, tz="Europe/London",
                                       key_suffix=suffix) == 1
