"""aiosqlite with its statements run in the event loop's thread, except the ones that can wait.

aiosqlite runs every call (execute, fetch, cursor, close) in a worker thread and hands the result
back through the event loop: about seventy thread hand-offs for one check-in answer, most of the
CPU of a turn's database work. SQLite answers planbot's statements in microseconds from its own
file, so running them directly is cheaper than handing them over. Two calls can wait, and still
go to the worker thread so that the event loop keeps serving meanwhile: BEGIN IMMEDIATE, which
takes SQLite's write lock that another process (an import, a second `planbot` command) may hold
for a while, and COMMIT, which waits for the disk. In WAL mode reads never wait (a plain, deferred
BEGIN takes no lock), and inside a transaction that holds the write lock nothing else does either.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite

_WAITS = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")  # a plain (deferred) BEGIN takes no lock


def _may_wait(fn, args: tuple) -> bool:
    if getattr(fn, "__name__", "") == "commit":
        return True  # a commit waits for the disk (fsync), the loop need not
    sql = args[0] if args and isinstance(args[0], str) else ""
    return " ".join(sql[:40].split()).upper().startswith(_WAITS)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run inline unless they may wait for a lock."""

    async def _execute(self, fn, *args, **kwargs):
        if _may_wait(fn, args):
            return await super()._execute(fn, *args, **kwargs)
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def inline_connect(database: Any, **kwargs: Any) -> InlineConnection:
    """What SQLAlchemy's aiosqlite dialect awaits for a connection (its async_creator_fn)."""
    location = database.decode() if isinstance(database, bytes) else str(database)
    # The connection is opened in the worker thread and used from the loop's thread too;
    # only one of them uses it at a time (one pooled connection, awaited in turn).
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(location, **kwargs)

    connection = InlineConnection(connector, 64)
    connection._thread.daemon = True  # as SQLAlchemy does for its own aiosqlite connections
    return connection
