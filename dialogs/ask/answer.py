"""Run a Query in the database (SQL filters, never Python loops over every action)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from dialogs.ask.lexicon import Lexicon
from dialogs.ask.query import Query
from storage.changes import (
    changed_within,
    got_better_sql,
    rag_at_start,
    went_to_sql,
    went_worse_sql,
)
from storage.models import (
    Action,
    ActionLead,
    Objective,
    Person,
    Plan,
    StatusUpdate,
    Theme,
    as_utc,
)
from storage.rules import ref_key


class Row:
    """One action in an answer: a plain database row of the answer's columns. Its leads and
    dates are read from the row when asked for: a card shows one page of up to 200 rows."""

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
    def due_date(self) -> date | None:
        due = self.action.due_date
        return date.fromisoformat(due) if isinstance(due, str) else due

    @property
    def last_update(self) -> datetime | None:
        return as_utc(self.action.last_update_at)

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


def _day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _not_blue():
    return or_(Action.rag.is_(None), Action.rag != "blue")


def _updates_since(since, *conditions):
    return exists().where(StatusUpdate.action_id == Action.id, StatusUpdate.at >= since,
                          *conditions)


Shape = frozenset[str]  # which filters a query uses: the statement depends on nothing else


def _in(name: str):  # a list parameter: IN (...) with as many values as it is given
    return bindparam(name, expanding=True)


ONE = "=1"  # in a shape, after a list filter's name: it was given one value


def _has(shape: Shape, name: str) -> bool:
    return name in shape or name + ONE in shape


def _member(column, shape: Shape, name: str, param: str):
    """column = :param for one value, else column IN (:param...): an IN list is rendered
    again at every execution, and most questions name one RAG, theme or lead."""
    return column == bindparam(param) if name + ONE in shape else column.in_(_in(param))


async def _asker_cells(session: AsyncSession, person_id: int, lex: Lexicon) -> list[str]:
    """The lead cells that name the asker (their display name or an alias, alone or in a
    shared cell)."""
    person = await session.get(Person, person_id)
    names = {person.display_name, *[a for a in (person.aliases or "").split("|") if a]}
    return sorted({cell for name in names for cell in lex.cells.get(name, [name])})


async def linked_to_a_lead(session: AsyncSession, person_id: int, lex: Lexicon) -> bool:
    """True when some lead cell of the plans is the person's: linked to them, or naming them
    (their display name or an alias) as "my actions" reads it."""
    person = await session.get(Person, person_id)
    if person is None:
        return False
    names = {person.display_name, *[a for a in (person.aliases or "").split("|") if a]}
    if any(name in lex.cells for name in names):
        return True
    return (await session.execute(select(ActionLead.id).where(
        ActionLead.person_id == person_id).limit(1))).scalar() is not None


@cache
def _base_select() -> Select:
    """Actions with their plan and theme (statements are immutable: built once, reused)."""
    return (select(Action, Plan.name, Theme.name)
            .join(Plan, Plan.id == Action.plan_id)
            .outerjoin(Theme, Theme.id == Action.theme_id))


async def filters(session: AsyncSession, query: Query, lex: Lexicon, *, today: date, tz: str,
                  asker_id: int | None) -> tuple[Shape, dict]:
    """The filters of a query (its shape) and the values they are given. Two questions with the
    same filters ("red in Barnsley", "red in Leeds") run one statement with other values."""
    used, values = set[str](), dict[str, object]()

    def use(name: str, **given) -> None:
        used.add(name)
        values.update(given)

    def use_list(name: str, param: str, items: list, **given) -> None:  # one value: "= :x"
        one = len(items) == 1
        use(name + ONE if one else name, **{param: items[0] if one else items}, **given)

    if query.plan:
        use("plan", plan=query.plan)
    if query.rags:
        use_list("rags", "rags", [rag.value for rag in query.rags])
    if query.no_rag:
        use("no_rag")
    if query.open_only:
        use("open")
    if query.no_due:
        use("no_due")
    if query.themes:
        use_list("themes", "themes", query.themes)
    if query.refs:
        use_list("refs", "ref_keys", sorted({ref_key(ref) for ref in query.refs}))
    if query.leads:
        use_list("leads", "lead_cells", sorted({cell for lead in query.leads
                                                for cell in lex.cells.get(lead, [lead])}))
    if query.mine and asker_id is not None:
        use("mine", asker=asker_id, asker_cells=await _asker_cells(session, asker_id, lex))
    elif query.mine:
        use("nobody")  # the asker is linked to no one: no action is theirs
    if query.overdue:
        use("overdue", today=today)
    if query.due_from:
        use("due_from", due_from=query.due_from)
    if query.due_to:
        use("due_to", due_to=query.due_to)
    if query.changed_since or query.went_to or query.worse or query.better:
        since = _day_start(query.changed_since or today - timedelta(days=7), tz)
        if query.went_to:
            use_list("went_to", "went_to", [rag.value for rag in query.went_to], since=since)
        elif query.worse or query.better:
            use("worse" if query.worse else "better", since=since)
        else:
            use("changed", since=since)
    if query.stale_days is not None:
        use("stale", stale_since=_day_start(today - timedelta(days=query.stale_days), tz))
    return frozenset(used), values


@lru_cache(maxsize=512)
def filtered(shape: Shape) -> Select:
    """The SELECT of actions matching every filter of a shape, its values left as parameters
    (built once per shape: a Select is immutable, and SQLAlchemy then keys its compiled-SQL
    cache without walking the statement again)."""
    where = []
    if "plan" in shape:
        where.append(Plan.name == bindparam("plan"))
    rag_terms = [_member(Action.rag, shape, "rags", "rags")] if _has(shape, "rags") else []
    if "no_rag" in shape:
        rag_terms.append(Action.rag.is_(None))
    if rag_terms:
        where.append(or_(*rag_terms))
    if "open" in shape:
        where.append(_not_blue())
    if "no_due" in shape:
        where.append(Action.due_date.is_(None))
    if _has(shape, "themes"):
        where.append(_member(Theme.name, shape, "themes", "themes"))
    if _has(shape, "refs"):
        where.append(_member(Action.ref_key, shape, "refs", "ref_keys"))
    lead_terms = [_member(ActionLead.name, shape, "leads", "lead_cells")] if _has(
        shape, "leads") else []
    if "mine" in shape:
        lead_terms.append(or_(ActionLead.person_id == bindparam("asker"),
                              ActionLead.name.in_(_in("asker_cells"))))
    if "nobody" in shape:
        lead_terms.append(ActionLead.id.is_(None))
    if lead_terms:
        where.append(Action.id.in_(select(ActionLead.action_id).where(and_(*lead_terms))))
    if "overdue" in shape:
        where += [Action.due_date < bindparam("today"), _not_blue()]
    if "due_from" in shape:
        where.append(Action.due_date >= bindparam("due_from"))
    if "due_to" in shape:
        where.append(Action.due_date <= bindparam("due_to"))
    # Changes follow storage/changes.py, as the digest and the board report do: the RAG at the
    # start of the window (the import being the baseline) against the RAG now. The update
    # within the window is looked for first: it is cheap, and no change happens without one.
    since = bindparam("since")
    if _has(shape, "went_to"):
        where += [_updates_since(since, _member(StatusUpdate.rag, shape, "went_to", "went_to")),
                  went_to_sql(_member(Action.rag, shape, "went_to", "went_to"),
                              rag_at_start(since), Action.rag)]
    if "worse" in shape or "better" in shape:
        compare = went_worse_sql if "worse" in shape else got_better_sql
        where += [_updates_since(since), compare(rag_at_start(since), Action.rag)]
    if "changed" in shape:
        where.append(changed_within(since))
    if "stale" in shape:
        where += [_not_blue(), ~_updates_since(bindparam("stale_since"))]
    return _base_select().where(*where)


_LEADS_SEP, _FIELD_SEP = "\x1f", "\x1e"  # never in a stored lead cell (control characters
# are dropped on import)
_LIST_COLUMNS = ("id", "ref", "text", "rag", "due_text", "due_date", "last_update_at")
_AS_STORED = ("due_date", "last_update_at")  # not converted for every row: Row does it on use
_SHOW_COLUMNS = ("measures",)  # and the objective (_listed joins it for "show")


class _lead_items(FunctionElement):
    """Strings joined with _LEADS_SEP, the separator written in the SQL as a character code.
    (func.aggregate_strings sends its separator as a literal-execute parameter, and SQLAlchemy
    then renders the statement again at every execution.)"""

    type = String()
    inherit_cache = True


@compiles(_lead_items)  # SQLite (and any dialect but PostgreSQL)
def _lead_items_group_concat(element, compiler, **kw) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, char({ord(_LEADS_SEP)}))"


@compiles(_lead_items, "postgresql")
def _lead_items_postgresql(element, compiler, **kw) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, chr({ord(_LEADS_SEP)}))"


def _leads_column():
    """An action's lead cells as one string of 'position, name' items (a correlated subquery):
    neither group_concat nor string_agg promise an order, so _lead_cells sorts them."""
    item = ActionLead.position.op("||")(_FIELD_SEP).op("||")(ActionLead.name)
    return (select(_lead_items(item))
            .where(ActionLead.action_id == Action.id).scalar_subquery())


@cache
def _answer_columns(show: bool) -> tuple:
    """What an answer reads of each action (built once)."""
    names = _LIST_COLUMNS + (_SHOW_COLUMNS if show else ())
    objective = (Objective.ref.label("objective_ref"), Objective.text.label("objective_text"))
    columns = [Action.__table__.c[name] for name in names]
    return (*(type_coerce(column, String).label(column.name) if column.name in _AS_STORED
              else column for column in columns), Plan.name.label("plan_name"),
            Theme.name.label("theme_name"), _leads_column().label("leads"),
            *(objective if show else ()))


def _lead_cells(folded: str | None) -> list[str]:
    """The lead cells of _leads_column, in cell order."""
    if not folded:
        return []
    if _LEADS_SEP not in folded:  # one lead cell, as most actions have
        return [folded.split(_FIELD_SEP, 1)[1]]
    items = [item.split(_FIELD_SEP, 1) for item in folded.split(_LEADS_SEP)]
    return [name for _, name in sorted(items, key=lambda item: int(item[0]))]


@lru_cache(maxsize=512)
def _listed(shape: Shape, show: bool, limit: int | None) -> Select:
    """The answer's rows of a shape in plan order (built once per shape); an action in full
    ("show") with its objective."""
    statement = filtered(shape)
    if show:
        statement = statement.outerjoin(Objective, Objective.id == Action.objective_id)
    ordered = statement.with_only_columns(
        *_answer_columns(show), maintain_column_froms=True).order_by(Plan.name, Action.position)
    return ordered if limit is None else ordered.limit(limit)


@lru_cache(maxsize=512)
def _counted(shape: Shape) -> Select:
    """How many actions a shape matches (built once per shape)."""
    return filtered(shape).with_only_columns(func.count(), maintain_column_froms=True)


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
    shape, values = await filters(session, query, lex, today=today, tz=tz, asker_id=asker_id)
    # One statement: plain rows of the columns an answer shows (not ORM objects), with the
    # leads of each action folded in. The total is counted apart only when LIMIT cut the list.
    # Plain rows: the Core connection, not the ORM session's entity machinery.
    connection = await session.connection()
    rows = (await connection.execute(_listed(shape, query.intent == "show", limit), values)).all()
    answer.total = len(rows)
    if limit is not None and len(rows) == limit:
        answer.total = (await connection.execute(_counted(shape), values)).scalar_one()
    answer.rows = [Row(row) for row in rows]
    return answer


@lru_cache(maxsize=4)
def _summed(plan: bool, themes: bool) -> Select:
    """RAG counts by theme, of one plan and some themes when asked (built once per pair)."""
    group = func.coalesce(Theme.name, Plan.name)
    statement = (select(group, Action.rag, func.count())
                 .join(Plan, Plan.id == Action.plan_id)
                 .outerjoin(Theme, Theme.id == Action.theme_id)
                 .group_by(group, Action.rag))
    if plan:
        statement = statement.where(Plan.name == bindparam("plan"))
    if themes:
        statement = statement.where(Theme.name.in_(_in("themes")))
    return statement


async def summary(session: AsyncSession, query: Query) -> dict[str, dict[str, int]]:
    """RAG counts by theme (actions with no theme under their plan's name)."""
    statement = _summed(bool(query.plan), bool(query.themes))
    values = {"plan": query.plan, "themes": query.themes}
    counts: dict[str, dict[str, int]] = {}
    connection = await session.connection()
    for theme, rag, count in (await connection.execute(statement, values)).all():
        counts.setdefault(theme, {})[rag or "none"] = count
    return counts


@cache
def _history_select() -> Select:
    """The newest status updates of one action, the columns a card shows (built once)."""
    return (select(StatusUpdate.at, StatusUpdate.source, StatusUpdate.by_name, StatusUpdate.rag,
                   StatusUpdate.progress, StatusUpdate.evidence)
            .where(StatusUpdate.action_id == bindparam("action_id"))
            .order_by(StatusUpdate.at.desc(), StatusUpdate.id.desc()).limit(bindparam("limit")))


async def history(session: AsyncSession, action_id: int, limit: int = 10) -> list:
    """The newest status updates of one action, newest first: plain rows with at, source,
    by_name, rag, progress and evidence."""
    connection = await session.connection()
    return list((await connection.execute(_history_select(),
                                          {"action_id": action_id, "limit": limit})).all())
