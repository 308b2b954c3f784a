"""Database access: async engine, sessions, and Alembic migrations (SQLite or PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.sqlite_inline import inline_connect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "planbot_read_only"  # execution option of a reading() session
# A SQLite writer waits for the write lock up to BUSY_TIMEOUT_MS in SQLite's busy handler (in
# aiosqlite's worker thread: the event loop keeps serving), and BEGIN IMMEDIATE is tried
# LOCK_ATTEMPTS times before "database is locked" reaches the caller: a minute in all. No
# transaction here holds the lock that long (an import commits in short batches).
BUSY_TIMEOUT_MS = 10_000
LOCK_ATTEMPTS = 6
log = logging.getLogger(__name__)


def async_url(url: str) -> str:
    """Normalise a database URL to its async driver (aiosqlite / asyncpg)."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
              "postgres": "postgresql+asyncpg", "postgresql+psycopg2": "postgresql+asyncpg"}
    name = driver.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=name).render_as_string(hide_password=False)


def make_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An async engine; SQLite gets foreign keys on, PostgreSQL an optional search_path."""
    url = async_url(url)
    kwargs: dict = {}
    if schema and url.startswith("postgresql"):
        kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
    if url.startswith("sqlite") and ":memory:" not in url:
        # SQLite has one writer at a time, and every transaction here begins IMMEDIATE. With
        # several pooled connections, waiting turns spin in SQLite's busy handler in no order
        # (p95 over a second under load, "database is locked" after 5 s). One connection makes
        # them queue in order inside the process instead. Code must not hold two sessions at once.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    if url.startswith("sqlite+aiosqlite"):
        kwargs["connect_args"] = {"async_creator_fn": inline_connect}  # see sqlite_inline.py
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        # pysqlite's own transaction handling breaks SAVEPOINTs (a nested transaction that is
        # the first write commits for good); SQLAlchemy's recipe: let SQLAlchemy emit BEGIN.
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection) -> None:
            # Writers queue for the lock at BEGIN (no upgrade deadlocks); a session opened with
            # reading() never writes, so it takes no lock (in WAL mode reads never wait).
            if connection.get_execution_options().get(READ_ONLY):
                connection.exec_driver_sql("BEGIN")
            else:
                _begin_immediate(connection)
    return engine


def _begin_immediate(connection) -> None:
    """BEGIN IMMEDIATE, tried again while another connection (an import, another process)
    holds the write lock past the busy timeout. Nothing has run in the transaction yet, so
    trying again is always safe."""
    raw = connection.connection.dbapi_connection
    error = connection.dialect.loaded_dbapi.OperationalError
    for attempt in range(1, LOCK_ATTEMPTS):
        cursor = raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            return
        except error as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                break  # not a lock: let SQLAlchemy raise it below, wrapped as usual
            log.warning("the database is locked by another writer; still waiting (attempt "
                        "%d of %d)", attempt, LOCK_ATTEMPTS)
        finally:
            cursor.close()
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # the last attempt raises SQLAlchemy's error


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic configuration pointing at storage/migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _upgrade(connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def database_status(engine: AsyncEngine) -> str:
    """'ok' when the database answers, else the error text."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this feeds /healthz
        return f"error: {type(exc).__name__}: {exc}"
    return "ok"


@asynccontextmanager
async def reading(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for work that only reads (a question, a digest): on SQLite its transaction
    begins DEFERRED, taking no write lock, so it neither waits for nor holds up a writer."""
    async with factory() as session:
        await session.connection(execution_options={READ_ONLY: True})
        yield session


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back on error."""
    async with factory() as session, session.begin():
        yield session
