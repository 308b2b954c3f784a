"""A large `planbot import` into the bot's database never makes a check-in answer fail or wait
for the whole import (issue 16, case 7): the import commits in short transactions, and a writer
that still finds the database locked waits, then tries BEGIN again."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.cli_commands import import_file
from bot.config import Settings
from storage import db
from storage.db import async_url, make_engine, migrate, session_factory, transaction
from storage.importers.registry import read_plan_file
from storage.models import Action, Plan, StatusUpdate
from storage.updates import latest_update, record_update
from tests.conftest import FIXED_NOW, POSTGRES_URL

REPO = Path(__file__).resolve().parent.parent
RAGS = ("Red", "Amber", "Green", "Blue")


def large_plan(path: Path, actions: int, *, shift: int = 0) -> Path:
    """A generated CSV plan: ten actions per objective, RAGs in turn (`shift` moves them on)."""
    rows = ["Theme,Ref,Objective,Action,Lead,Due,RAG,Progress,Evidence"]
    for n in range(actions):
        objective = n // 10 + 1
        rows.append(f"Theme {objective % 7},{objective}.{n % 10 + 1},{objective} Objective "
                    f"{objective},Carry out step {n} for children,Lead {n % 40},"
                    f"2027-0{n % 9 + 1}-15,{RAGS[(n + shift) % 4]},Note {n} {shift},"
                    f"Evidence {n}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


async def _answer(url: str, *, plan_slug: str, schema: str | None = None,
                  first: bool = True) -> tuple[float, int]:
    """A check-in answer as the bot stores it, on its own engine: (seconds taken, row id)."""
    engine = make_engine(url, schema=schema)
    try:
        started = time.monotonic()
        async with transaction(session_factory(engine)) as session:
            action = (await session.execute(
                select(Action).join(Plan, Plan.id == Action.plan_id)
                .where(Plan.slug == plan_slug)
                .order_by(Action.position if first else Action.position.desc()).limit(1)
            )).scalar_one()
            update = await record_update(session=session, action=action, source="checkin",
                                         at=FIXED_NOW, rag="Red", by_name="Karen Dolton",
                                         progress="answered while an import ran",
                                         corrective_action="weekly audit")
        return time.monotonic() - started, update.id
    finally:
        await engine.dispose()


async def test_an_answer_is_stored_at_once_while_planbot_import_saves_a_large_plan(tmp_path):
    database = tmp_path / "bot.db"
    url = f"sqlite+aiosqlite:///{database}"
    await import_file(Settings(database_url=url), large_plan(tmp_path / "running.csv", 30),
                      plan_name=None, dry_run=False, out=io.StringIO())
    big = large_plan(tmp_path / "large-plan.csv", 1200)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bot.cli import main; main()", "--database-url", url,
        "import", str(big), cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        lines = []
        while not any(line.startswith("Saving 1200 actions") for line in lines):
            line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
            assert line, "".join(lines)
            lines.append(line)
        await asyncio.sleep(1.5)  # well inside the import's writing
        assert process.returncode is None, "the import ended before the answer: nothing tested"
        waited, update_id = await _answer(url, plan_slug="running")
        still_importing = process.returncode is None
        output = "".join(lines) + (await asyncio.wait_for(process.stdout.read(), 600)).decode()
        assert await process.wait() == 0, output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # stored without waiting for the rest of the import (before: "database is locked" at 5 s)
    assert still_importing and waited < 3.0, (still_importing, waited)
    assert "1200 actions added" in output
    engine = make_engine(url)
    async with session_factory(engine)() as session:
        assert await session.scalar(select(func.count(Action.id)).join(Plan).where(
            Plan.slug == "large-plan")) == 1200
        stored = await session.get(StatusUpdate, update_id)
        assert stored.progress == "answered while an import ran"
        action = await session.get(Action, stored.action_id)
        newest = await latest_update(session=session, action_id=action.id)
        assert newest.id == update_id and action.rag == newest.rag == "red"
    await engine.dispose()


async def test_a_writer_tries_begin_again_while_the_lock_is_held_past_the_busy_timeout(
        tmp_path, monkeypatch):
    """SQLite gives up after the busy timeout; the write is not lost but tried again, and a
    lock held for longer than every attempt still reports SQLAlchemy's OperationalError."""
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 100)
    monkeypatch.setattr(db, "LOCK_ATTEMPTS", 30)
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    other = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.8, lambda: other.execute("COMMIT"))  # 8 busy timeouts later
    release.start()
    sessions = session_factory(engine)
    async with transaction(sessions) as session:
        await session.execute(text("INSERT INTO person (display_name, aliases, created_at) "
                                   "VALUES ('Waited', '', '2026-01-01 00:00:00')"))
    release.join()
    async with sessions() as session:
        assert (await session.execute(text("SELECT display_name FROM person"))).scalars().all() \
            == ["Waited"]
    monkeypatch.setattr(db, "LOCK_ATTEMPTS", 2)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"):
        async with transaction(sessions) as session:
            await session.execute(text("SELECT 1"))
    other.execute("ROLLBACK")
    other.close()
    await engine.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="TEST_DATABASE_URL is not set")
async def test_postgresql_an_answer_does_not_wait_for_a_reimport_of_its_plan():
    """On PostgreSQL an import takes no table locks, and the row it changes is locked only for
    one short transaction: an answer on an action the running re-import has already rewritten
    is stored at once (before: it waited for the whole import)."""
    from storage.plans import import_draft

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(async_url(POSTGRES_URL))
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, schema=schema)
    await migrate(engine)
    try:
        with tempfile.TemporaryDirectory() as folder:
            first = read_plan_file(large_plan(Path(folder) / "pg-plan.csv", 700))
            second = read_plan_file(large_plan(Path(folder) / "pg-plan.csv", 700, shift=1))
        await import_draft(session_factory(engine), draft=first, now=FIXED_NOW)
        failures: list[BaseException] = []

        def reimport() -> None:
            async def run() -> None:
                other = make_engine(POSTGRES_URL, schema=schema)
                try:
                    await import_draft(session_factory(other), draft=second, now=FIXED_NOW)
                finally:
                    await other.dispose()
            try:
                asyncio.run(run())
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                failures.append(exc)

        worker = threading.Thread(target=reimport)
        worker.start()
        await asyncio.sleep(2.0)  # the first actions are rewritten by now, the rest are not
        assert worker.is_alive(), "the import ended before the answer: nothing was tested"
        waited, update_id = await _answer(POSTGRES_URL, plan_slug="pg-plan", schema=schema)
        still_importing = worker.is_alive()
        await asyncio.to_thread(worker.join, 600)
        assert not failures, failures
        assert still_importing and waited < 3.0, (still_importing, waited)
        async with session_factory(engine)() as session:
            stored = await session.get(StatusUpdate, update_id)
            newest = await latest_update(session=session, action_id=stored.action_id)
            action = await session.get(Action, stored.action_id)
            assert newest.id == update_id and action.rag == newest.rag == "red"
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()
