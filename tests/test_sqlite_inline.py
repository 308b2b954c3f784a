"""SQLite statements run in the event loop's thread, except BEGIN and COMMIT, which may wait
(storage/sqlite_inline.py): a lock held by another process never stalls the bot's event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime

import aiosqlite
import pytest
from sqlalchemy import select, text

from storage.db import make_engine, migrate, reading, session_factory
from storage.models import Person


async def test_statements_run_inline_and_begin_commit_in_the_worker(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    await migrate(engine)
    threads: dict[str, set[int]] = {}
    handed_over: list[str] = []
    worker = aiosqlite.Connection._execute

    async def recording(self, fn, *args, **kwargs):
        handed_over.append(args[0] if args and isinstance(args[0], str) else fn.__name__)
        return await worker(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", recording)
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
    assert handed_over == ["BEGIN IMMEDIATE", "commit"]
    await engine.dispose()


@pytest.fixture
async def locked(tmp_path):
    """A migrated SQLite file, its sessions, and another connection (another process, say an
    import) holding the write lock."""
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    yield session_factory(engine), other
    other.close()
    await engine.dispose()


async def test_a_write_lock_held_elsewhere_does_not_stall_the_loop(locked):
    sessions, other = locked
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
    async with sessions() as session:
        assert (await session.execute(select(Person.display_name))).scalars().all() == ["Waited"]


async def test_a_reading_session_neither_waits_for_nor_takes_the_write_lock(locked):
    sessions, other = locked
    async with reading(sessions) as session:
        assert (await session.execute(select(Person.id))).all() == []  # answered, not queued
        # and this reader holds no lock: the other connection commits while it is open
        other.execute("INSERT INTO person (display_name, aliases, created_at) "
                      "VALUES ('Other', '', '2026-01-01 00:00:00')")
        other.execute("COMMIT")
    other.execute("BEGIN IMMEDIATE")  # a plain session would have kept the lock until closed
    other.execute("COMMIT")
