"""SQLite statements run in the event loop's thread, except BEGIN and COMMIT, which may wait
(storage/sqlite_inline.py): a lock held by another process never stalls the bot's event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

from sqlalchemy import select, text

from storage.db import make_engine, migrate, session_factory
from storage.models import Person


async def test_statements_run_inline_and_begin_commit_in_the_worker(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    await migrate(engine)
    threads: dict[str, set[int]] = {}
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        raw.driver_connection._conn.create_function(
            "whose", 1, lambda tag: threads.setdefault(tag, set()).add(threading.get_ident())
            or 1)
        async with connection.begin():
            await connection.execute(text("SELECT whose('select')"))
            await connection.execute(text("INSERT INTO person (display_name, aliases, "
                                          "created_at) VALUES (whose('insert') || 'x', '', "
                                          "'2026-01-01 00:00:00')"))
    assert threads["select"] == threads["insert"] == {threading.get_ident()}
    await engine.dispose()


async def test_a_write_lock_held_elsewhere_does_not_stall_the_loop(tmp_path):
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    sessions = session_factory(engine)
    other = sqlite3.connect(path, isolation_level=None)  # another process, say an import
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def write() -> None:
        async with sessions() as session, session.begin():  # BEGIN IMMEDIATE waits here
            session.add(Person(display_name="Waited", created_at=datetime(2026, 1, 1, tzinfo=UTC)))

    ticker = asyncio.create_task(tick())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.5)
    assert not writer.done()  # still waiting for the other connection's lock
    assert ticks >= 20  # and the event loop kept running meanwhile
    other.execute("COMMIT")
    await asyncio.wait_for(writer, 5)
    ticker.cancel()
    other.close()
    async with sessions() as session:
        assert (await session.execute(select(Person.display_name))).scalars().all() == ["Waited"]
    await engine.dispose()
