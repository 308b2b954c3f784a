"""Two replicas on one database: two schedulers and two senders, each on its own engine, through
a week of jobs plus a burst of notices. Every job happens once and every card reaches the (fake)
Bot Connector exactly once. On SQLite and, with TEST_DATABASE_URL, PostgreSQL (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

from botbuilder.schema import Activity
from sqlalchemy import select

from bot.adapter import create_adapter
from bot.config import Settings
from bot.proactive import BotDelivery, store_reference
from bot.scheduler import Scheduler
from bot.sender import Sender
from storage.db import session_factory
from storage.models import Outbox
from storage.outbox import enqueue
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.test_scheduler import SLUG, W48, Clock, london, second_engine, world  # noqa: F401

LOCAL = Settings(app_id="", app_password="", local=True)


async def point_references_at(sessions, place, url: str) -> None:
    """Store real conversation references (service URL = the fake connector) for everyone."""
    async with sessions() as session, session.begin():
        for name, conversation_id in place.chats.items():
            body = teams.personal_message(url, "hello")
            body["conversation"]["id"] = conversation_id
            await store_reference(session=session, activity=Activity().deserialize(body),
                                  person_id=place.ids[name], now=london(2026, 11, 20, 9))


def sleep(clock: Clock):
    """The senders' rate limiter waits on this clock: sleeping moves it on (shared by both)."""

    async def nap(seconds: float) -> None:
        clock.now += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)

    return nap


async def drain(sender: Sender) -> int:
    handled = 0
    while (batch := await sender.drain_once()):
        handled += batch
        await asyncio.sleep(0)
    return handled


async def test_two_replicas_run_each_job_once_and_send_each_card_once(world, engine):  # noqa: F811
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    other = await second_engine(engine)
    try:
        await point_references_at(world.sessions, world, url)
        clock = Clock(london(2026, 11, 23, 8, 59))
        replicas = []
        for number, eng in enumerate((engine, other)):
            sessions = session_factory(eng)
            delivery = BotDelivery(create_adapter(LOCAL), LOCAL, clock=clock)
            replicas.append((Scheduler(sessions, clock),
                             Sender(sessions, delivery, clock, sleep=sleep(clock), batch=7,
                                    concurrency=4, rng=random.Random(number))))
        lines = []
        for at in (london(2026, 11, 23, 9, 0, 30), london(2026, 11, 25, 12, 1),
                   london(2026, 11, 26, 12, 1), london(2026, 11, 27, 9, 1)):
            clock.now = at
            for done in await asyncio.gather(*(scheduler.tick() for scheduler, _ in replicas)):
                lines += done
            if at == london(2026, 11, 25, 12, 1):  # and a burst of notices, raced for
                async with world.sessions() as session, session.begin():
                    for number in range(60):
                        name = list(world.chats)[number % 3]
                        await enqueue(session=session, key=f"notice:{number}", kind="notice",
                                      conversation_id=world.chats[name], now=at,
                                      activity={"type": "message", "text": f"notice {number}"})
            handled = await asyncio.gather(*(drain(sender) for _, sender in replicas))
            assert sum(handled) > 0, at
        assert sorted(lines) == sorted([f"{SLUG}: round {W48}, 2 cards", f"{SLUG}: chaser1 {W48}",
                                        f"{SLUG}: chaser2 {W48}", f"{SLUG}: escalate {W48}"])
        # Each card once: 3 to each lead (card, two chasers), 1 to the owner, 60 notices.
        sent = Counter(item.conversation_id for item in fake.sent)
        assert sent == {world.chats["Karen Dolton"]: 3 + 20, world.chats["Lana Shannon"]: 3 + 20,
                        world.chats["Sam Owner"]: 1 + 20}, sent
        notices = Counter(item.body.get("text") for item in fake.sent
                          if (item.body.get("text") or "").startswith("notice "))
        assert notices == {f"notice {number}": 1 for number in range(60)}
        async with world.sessions() as session:
            rows = list((await session.execute(select(Outbox))).scalars())
        assert len(rows) == 67 and {row.status for row in rows} == {"sent"}
        assert all(row.attempts == 1 for row in rows)  # no row was claimed twice
        assert len({row.sent_activity_id for row in rows}) == 67
    finally:
        await other.dispose()
        await server.close()
