"""The parser's vocabulary (plans, themes, leads, refs, objectives), cached per database and
process, and the cheap stamp that tells when to read it again."""

from __future__ import annotations

import asyncio
import re
import weakref
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from time import monotonic

from sqlalchemy import Select, event, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.ask.parse import Matcher
from dialogs.ask.query import Query, Vocabulary
from storage.db import READ_ONLY
from storage.leads import lead_people
from storage.models import Action, ActionLead, Objective, Plan, Theme


@dataclass
class Lexicon:
    """The vocabulary plus how each individual lead is written in lead cells."""

    vocab: Vocabulary
    cells: dict[str, list[str]]  # individual lead -> the ActionLead cells naming them

    @cached_property
    def matcher(self) -> Matcher:
        """The parser prepared for this vocabulary (built once per Lexicon)."""
        return Matcher(self.vocab)

    def parse(self, text: str, *, today: date) -> Query:
        """The Query a question asks, read against this vocabulary (as parse.parse does)."""
        return self.matcher.parse(text, today=today)


# The lexicon of each database, kept per process and rebuilt when its stamp changes. The stamp
# is read at most once a second (other processes' imports show within a second); a write in
# this process to a table the lexicon reads (seen on the way to the database) forces a re-read
# at once.
_LEXICONS: weakref.WeakKeyDictionary[Engine, tuple[tuple, Lexicon, float, int]] = (
    weakref.WeakKeyDictionary())
STAMP_TTL = 1.0
IN_THREAD_FROM = 2_000  # refs + objectives: a smaller vocabulary is built in milliseconds
_WRITES = {"generation": 0}
_LEXICON_TABLES = re.compile(r"^\s*(insert|update|delete)\b.*?\b(plan|theme|objective|action|"
                             r"actionlead)\b", re.IGNORECASE | re.DOTALL)


@event.listens_for(Engine, "before_cursor_execute")
def _note_lexicon_writes(conn, cursor, statement, parameters, context, executemany) -> None:
    if statement[:6].lower() in ("insert", "update", "delete") and \
            _LEXICON_TABLES.match(statement[:200]):
        _WRITES["generation"] += 1


def _stamp_query() -> Select:
    """One cheap SELECT whose answer changes whenever what the lexicon reads may have changed.

    Every insert raises a highest id (a new lead, theme, action, objective or plan); an import
    (storage.plans.save_draft, the one writer that edits refs and objective texts in place or
    replaces lead cells) stamps Plan.updated_at; deleting a plan, theme or objective changes a
    count. Counts of the two big tables (actions, leads) are left out: only an import deletes
    their rows. All of it is read from indexes, never the rows.
    """
    parts = [select(func.max(Plan.updated_at)).scalar_subquery()]
    for model in (Plan, Theme, Objective, Action, ActionLead):
        parts.append(select(func.max(model.id)).scalar_subquery())
    for model in (Plan, Theme, Objective):
        parts.append(select(func.count()).select_from(model).scalar_subquery())
    return select(*parts)


async def lexicon_stamp(session: AsyncSession) -> tuple:
    """The database's current lexicon stamp."""
    return tuple((await session.execute(_stamp_query())).one())


def _engine_of(session: AsyncSession) -> Engine | None:
    bind = session.sync_session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


async def lexicon(*, session: AsyncSession, plan: str | None = None) -> Lexicon:
    """The parser's vocabulary for the plans in the database: cached per database and process,
    read again only when the lexicon stamp shows plans, themes, objectives, actions or leads
    changed."""
    engine = _engine_of(session)
    cached = _LEXICONS.get(engine) if engine is not None else None
    now, generation = monotonic(), _WRITES["generation"]
    if cached is not None and cached[3] == generation and now - cached[2] < STAMP_TTL:
        return cached[1]
    stamp = await lexicon_stamp(session)
    if cached is not None and cached[0] == stamp:
        _LEXICONS[engine] = (stamp, cached[1], now, generation)
        return cached[1]
    lex = await read_lexicon(session)
    if len(lex.vocab.refs) + len(lex.vocab.objectives) >= IN_THREAD_FROM:
        # The parser's tables (a third of a second for 10,000 actions and objectives) are built
        # in a worker thread, not on the event loop: other requests go on being served. A
        # read-only session gives its connection back meanwhile (SQLite has one per process,
        # so a request waiting for it would wait for the build), and takes one again after.
        released = await _release_if_reading(session)
        await asyncio.to_thread(_prepare, lex)
        if released:
            await session.connection(execution_options={READ_ONLY: True})
    if engine is not None:
        _LEXICONS[engine] = (stamp, lex, now, generation)
    return lex


async def _release_if_reading(session: AsyncSession) -> bool:
    """End a reading() session's transaction (it wrote nothing) so its connection goes back to
    the pool; False, and nothing done, for a session that may write."""
    if session.new or session.dirty or session.deleted or not session.in_transaction():
        return False
    connection = await session.connection()
    if not connection.sync_connection.get_execution_options().get(READ_ONLY):
        return False
    await session.rollback()
    return True


def _prepare(lex: Lexicon) -> Matcher:
    return lex.matcher


async def read_lexicon(session: AsyncSession) -> Lexicon:
    """The parser's vocabulary, read from the plans in the database (no cache)."""
    plans = list((await session.execute(select(Plan.name).order_by(Plan.name))).scalars())
    themes = list((await session.execute(select(Theme.name).distinct())).scalars())
    refs = list((await session.execute(select(Action.ref))).scalars())
    objectives = dict((await session.execute(select(Objective.ref, Objective.text).order_by(
        Objective.plan_id, Objective.position))).all())
    cells: dict[str, list[str]] = {}
    for cell in (await session.execute(select(ActionLead.name).distinct())).scalars():
        for person in lead_people(cell) or [cell]:
            cells.setdefault(person, []).append(cell)
    return Lexicon(Vocabulary(plans=plans, themes=themes, leads=sorted(cells), refs=refs,
                              objectives=objectives), cells)
