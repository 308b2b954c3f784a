"""Run a Query in the database (SQL filters, never Python loops over every action)."""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from time import monotonic
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, event, exists, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.ask.parse import Matcher
from dialogs.ask.query import Query, Vocabulary
from storage.leads import lead_people
from storage.models import Action, ActionLead, Objective, Person, Plan, StatusUpdate, Theme
from storage.rules import ref_key


class Row:
    """One action in an answer: a plain database row of the answer's columns. Its leads are
    read from the folded column when asked for (a card shows one page of up to 200 rows)."""

    __slots__ = ("action", "_folded", "_leads")

    def __init__(self, action) -> None:
        self.action = action  # ref, text, rag, due_text, due_date, ... as attributes
        self._folded: str | None = action.leads
        self._leads: list[str] | None = None

    @property
    def plan(self) -> str:
        return self.action.plan_name

    @property
    def theme(self) -> str | None:
        return self.action.theme_name

    @property
    def last_update(self) -> datetime | None:
        return self.action.last_update_at

    @property
    def leads(self) -> list[str]:
        """The action's lead cells in cell order."""
        if self._leads is None:
            self._leads = _lead_cells(self._folded)
        return self._leads


@dataclass
class Answer:
    """What a question found: the rows (or counts for a summary), in plan order."""

    query: Query
    rows: list[Row] = field(default_factory=list)
    total: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # theme -> rag -> n

    @property
    def refs(self) -> list[str]:
        """The refs of the rows, as stored."""
        return [row.action.ref for row in self.rows]


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
    if engine is not None:
        _LEXICONS[engine] = (stamp, lex, now, generation)
    return lex


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


def _day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _not_blue():
    return or_(Action.rag.is_(None), Action.rag != "blue")


def _updates_since(since: datetime, *conditions):
    return exists().where(StatusUpdate.action_id == Action.id, StatusUpdate.at >= since,
                          *conditions)


async def _asker_actions(session: AsyncSession, person_id: int | None, lex: Lexicon) -> list:
    if person_id is None:
        return []
    person = await session.get(Person, person_id)
    names = {person.display_name, *[a for a in (person.aliases or "").split("|") if a]}
    cells = {cell for name in names for cell in lex.cells.get(name, [name])}
    return [or_(ActionLead.person_id == person_id, ActionLead.name.in_(cells))]


@cache
def _base_select() -> Select:
    """Actions with their plan and theme (statements are immutable: built once, reused)."""
    return (select(Action, Plan.name, Theme.name)
            .join(Plan, Plan.id == Action.plan_id)
            .outerjoin(Theme, Theme.id == Action.theme_id))


async def filtered(session: AsyncSession, query: Query, lex: Lexicon, *, today: date, tz: str,
                   asker_id: int | None) -> Select:
    """The SELECT of actions matching every filter of the query."""
    statement = _base_select()
    where = []
    if query.plan:
        where.append(Plan.name == query.plan)
    rag_terms = [Action.rag.in_([rag.value for rag in query.rags])] if query.rags else []
    if query.no_rag:
        rag_terms.append(Action.rag.is_(None))
    if rag_terms:
        where.append(or_(*rag_terms))
    if query.open_only:
        where.append(_not_blue())
    if query.no_due:
        where.append(Action.due_date.is_(None))
    if query.themes:
        where.append(Theme.name.in_(query.themes))
    if query.refs:
        where.append(Action.ref_key.in_({ref_key(ref) for ref in query.refs}))
    lead_terms = []
    if query.leads:
        cells = {cell for lead in query.leads for cell in lex.cells.get(lead, [lead])}
        lead_terms.append(ActionLead.name.in_(cells))
    if query.mine:
        lead_terms += await _asker_actions(session, asker_id, lex) or [ActionLead.id.is_(None)]
    if lead_terms:
        where.append(Action.id.in_(select(ActionLead.action_id).where(and_(*lead_terms))))
    if query.overdue:
        where += [Action.due_date < today, _not_blue()]
    if query.due_from:
        where.append(Action.due_date >= query.due_from)
    if query.due_to:
        where.append(Action.due_date <= query.due_to)
    if query.changed_since or query.went_to or query.worse or query.better:
        since = _day_start(query.changed_since or today - timedelta(days=7), tz)
        if query.went_to:
            values = [rag.value for rag in query.went_to]
            where += [Action.rag.in_(values), _updates_since(
                since, StatusUpdate.rag.in_(values),
                or_(StatusUpdate.rating_change.is_(None), StatusUpdate.rating_change != "same"))]
        elif query.worse or query.better:
            where.append(_updates_since(
                since, StatusUpdate.rating_change == ("down" if query.worse else "up")))
        else:
            where.append(_updates_since(since))
    if query.stale_days is not None:
        where += [_not_blue(), ~_updates_since(_day_start(today - timedelta(days=query.stale_days),
                                                          tz))]
    return statement.where(*where)


_LEADS_SEP, _FIELD_SEP = "\x1f", "\x1e"  # never in a stored lead cell (control characters
# are dropped on import)
_LIST_COLUMNS = ("id", "ref", "text", "rag", "due_text", "due_date", "last_update_at")
_SHOW_COLUMNS = ("objective_id", "measures")


def _leads_column():
    """An action's lead cells as one string of 'position, name' items (a correlated subquery):
    neither group_concat nor string_agg promise an order, so _lead_cells sorts them."""
    item = ActionLead.position.op("||")(_FIELD_SEP).op("||")(ActionLead.name)
    return (select(func.aggregate_strings(item, _LEADS_SEP))
            .where(ActionLead.action_id == Action.id).scalar_subquery())


@cache
def _answer_columns(show: bool) -> tuple:
    """What an answer reads of each action (built once)."""
    names = _LIST_COLUMNS + (_SHOW_COLUMNS if show else ())
    return (*(Action.__table__.c[name] for name in names), Plan.name.label("plan_name"),
            Theme.name.label("theme_name"), _leads_column().label("leads"))


def _lead_cells(folded: str | None) -> list[str]:
    """The lead cells of _leads_column, in cell order."""
    if not folded:
        return []
    items = [item.split(_FIELD_SEP, 1) for item in folded.split(_LEADS_SEP)]
    return [name for _, name in sorted(items, key=lambda item: int(item[0]))]


async def run(session: AsyncSession, query: Query, lex: Lexicon, *, today: date,
              tz: str = "Europe/London", asker_id: int | None = None,
              limit: int | None = None) -> Answer:
    """Answer a parsed question from the database."""
    answer = Answer(query=query)
    if query.intent in ("help", "unknown"):
        return answer
    if query.intent == "summary":
        answer.counts = await summary(session, query)
        return answer
    if query.intent == "show":
        # "is 2d overdue?" asks about 2d: the other words describe the question, not a filter.
        query = Query(intent="show", text=query.text, refs=query.refs, plan=query.plan)
    statement = await filtered(session, query, lex, today=today, tz=tz, asker_id=asker_id)
    # One statement: plain rows of the columns an answer shows (not ORM objects), with the
    # leads of each action folded in. The total is counted apart only when LIMIT cut the list.
    ordered = statement.with_only_columns(
        *_answer_columns(query.intent == "show"), maintain_column_froms=True,
    ).order_by(Plan.name, Action.position)
    if limit is not None:
        ordered = ordered.limit(limit)
    # Plain rows: the Core connection, not the ORM session's entity machinery.
    connection = await session.connection()
    rows = (await connection.execute(ordered)).all()
    answer.total = len(rows)
    if limit is not None and len(rows) == limit:
        counted = statement.with_only_columns(func.count(), maintain_column_froms=True)
        answer.total = (await connection.execute(counted)).scalar_one()
    answer.rows = [Row(row) for row in rows]
    return answer


async def summary(session: AsyncSession, query: Query) -> dict[str, dict[str, int]]:
    """RAG counts by theme (actions with no theme under their plan's name)."""
    statement = (select(func.coalesce(Theme.name, Plan.name), Action.rag, func.count())
                 .join(Plan, Plan.id == Action.plan_id)
                 .outerjoin(Theme, Theme.id == Action.theme_id)
                 .group_by(func.coalesce(Theme.name, Plan.name), Action.rag))
    if query.plan:
        statement = statement.where(Plan.name == query.plan)
    if query.themes:
        statement = statement.where(Theme.name.in_(query.themes))
    counts: dict[str, dict[str, int]] = {}
    for theme, rag, count in (await session.execute(statement)).all():
        counts.setdefault(theme, {})[rag or "none"] = count
    return counts


async def history(session: AsyncSession, action_id: int, limit: int = 10) -> list[StatusUpdate]:
    """The newest status updates of one action."""
    return list((await session.execute(
        select(StatusUpdate).where(StatusUpdate.action_id == action_id)
        .order_by(StatusUpdate.at.desc(), StatusUpdate.id.desc()).limit(limit))).scalars())


async def objective_of(session: AsyncSession, action: Action) -> Objective | None:
    """The objective an action belongs to."""
    return await session.get(Objective, action.objective_id) if action.objective_id else None
