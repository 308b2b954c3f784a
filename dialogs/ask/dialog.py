"""Questions in chat: parse, answer in SQL, reply with a card (and 'Show more' paging)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cards.answer import (
    PAGE,
    ActionLine,
    ActionView,
    ListView,
    SummaryView,
    UpdateLine,
    action_card,
    list_card,
    summary_card,
)
from dialogs import access
from dialogs.ask import phrases as ph
from dialogs.ask.answer import Answer, Row, history, linked_to_a_lead, run
from dialogs.ask.lexicon import lexicon
from dialogs.ask.query import Query
from dialogs.auth import acting_person
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.db import reading
from storage.rules import day_label, is_overdue, month_label, parse_rag, short_date

router = Router()
MAX_ROWS = 200  # a list answer pages through at most this many actions


async def ask(session: AsyncSession, text: str, *, today: date, tz: str,
              asker_id: int | None = None, limit: int | None = MAX_ROWS) -> Answer:
    """Parse a question against the plans in the database and answer it."""
    lex = await lexicon(session=session)
    query = lex.parse(text, today=today)
    return await run(session, query, lex, today=today, tz=tz, asker_id=asker_id, limit=limit)


def _line(row: Row, today: date) -> ActionLine:
    action, due, updated = row.action, row.due_date, row.last_update
    return ActionLine(ref=action.ref, title=action.text, rag=action.rag, leads=row.leads,
                      due_text=action.due_text, due_date=due,
                      overdue=is_overdue(due, parse_rag(action.rag), today),
                      last_update=updated.date() if updated else None, plan=row.plan)


_RELATIVE = re.compile(r"\b(this|next|last|past|previous|coming|soon|upcoming|today|tomorrow|"
                       r"yesterday|ago|days?|weeks?|fortnight|months?|years?|quarter|"
                       + "|".join(ph.DAY_NAMES) + r")\b")
_NAMES = re.compile(r"\b(" + "|".join(sorted(ph.MONTH_NAMES + ph.DAY_NAMES, key=len,
                                               reverse=True)) + r")\b")


def _month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def _due_dates(lo: date | None, hi: date | None, day) -> str:
    """A due window in words, from its dates: "in March 2015", "before March 2015"."""
    if lo and hi:
        if lo == hi:
            return f"on {day(lo)}"
        if lo.day == 1 and _month_end(hi):
            if (lo.month, hi.month, lo.year) == (1, 12, hi.year):
                return f"in {lo.year}"
            if (lo.year, lo.month) == (hi.year, hi.month):
                return f"in {month_label(lo)}"
            return f"from {month_label(lo)} to {month_label(hi)}"
        return f"between {day(lo)} and {day(hi)}"
    if hi:
        return (f"before {month_label(hi + timedelta(days=1))}" if _month_end(hi)
                else f"by {day(hi)}")
    assert lo is not None
    return f"from {month_label(lo)}" if lo.day == 1 else f"from {day(lo)}"


def _bracket(lo: date | None, hi: date | None) -> str:
    """The dates of a due window, for after the words asked ("this month (November 2026)")."""
    if lo and hi:
        if lo == hi:
            return short_date(lo)
        if lo.day == 1 and _month_end(hi) and (lo.year, lo.month) == (hi.year, hi.month):
            return month_label(lo)
        return f"{short_date(lo)} to {short_date(hi)}"
    return f"by {short_date(hi)}" if hi else f"from {short_date(lo)}" if lo else ""


_LEADING = frozenset("in within during on".split())  # kept before the phrase ("in March")
_STARTS = _LEADING | frozenset("before by until till after from since between no".split())


def _due_words(query: Query, today: date | None, day) -> str:
    """The due window as asked ("before March 2015", "this month (November 2026)"), or from
    its dates when the question's words cannot be found again."""
    dates = _due_dates(query.due_from, query.due_to, day)
    if today is None:
        return dates
    text = " ".join(word for word, _ in ph.tokens(query.text))
    for fact in ph.read_time(text, today):
        if (fact.lo, fact.hi) != (query.due_from, query.due_to) or not fact.said:
            continue
        before = text[:fact.start].split()[-1:]
        said = " ".join([*(before if before and before[0] in _LEADING else []), fact.said])
        relative = bool(_RELATIVE.search(said))
        if not relative and said.split()[0] not in _STARTS:
            return dates  # "due 2015": "in 2015"
        said = _NAMES.sub(lambda m: m[0].title(), said)
        years = {d.year for d in (fact.lo, fact.hi) if d}
        if relative or not re.search(r"\b\d{4}\b", said) and years != {today.year}:
            said += f" ({_bracket(fact.lo, fact.hi)})"
        return said
    return dates


def _stale_words(days: int, today: date | None, day) -> str:
    if days % 7 == 0:
        return "for a week" if days == 7 else f"for {days // 7} weeks"
    return f"since {day(today - timedelta(days=days))}" if today else f"for {days} days"


def title_of(query: Query, today: date | None = None) -> str:
    """What was asked, as the heading of its answer: "Went red since Mon 23 Nov", "Due before
    March 2015", "Overdue red actions for Karen Dolton", "No update for 3 weeks"."""

    def day(value: date) -> str:
        return day_label(value, year=today is None or value.year != today.year)

    words = ["overdue"] * query.overdue
    rated = [rag.value for rag in query.rags] + ["not yet rated"] * query.no_rag
    words += [" or ".join(rated)] if rated else ["open"] * query.open_only
    subject = " ".join(["your"] * query.mine + words + ["actions"])
    if query.refs:
        subject += " " + ", ".join(query.refs[:6]) + (
            f" and {len(query.refs) - 6} more" if len(query.refs) > 6 else "")
    if query.no_due:
        subject += " with no due date"
    plain = subject == "actions"  # no filter on the actions themselves
    since = f" since {day(query.changed_since)}" if query.changed_since else ""
    if query.intent == "changes":
        went = ("went " + " or ".join(rag.value for rag in query.went_to) if query.went_to
                else "got worse" if query.worse else "got better" if query.better
                else "changed")
        head = (went if plain else f"{subject} that {went}") + since
    elif query.intent == "not_updated":
        stale = "no update " + _stale_words(query.stale_days or 7, today, day)
        head = stale if plain else f"{subject} with {stale}"
    else:
        head = subject
    due = (f"due {_due_words(query, today, day)}"
           if query.due_from or query.due_to else "")
    if due and head == "actions":
        head, due = due, ""  # "Due before March 2015"
    parts = [head]
    if query.themes:
        parts.append("in " + " / ".join(query.themes))
    if query.leads:
        parts.append("for " + ", ".join(query.leads))
    if query.plan and not query.themes:
        parts.append(f"in {query.plan}")
    text = " ".join(parts) + (f", {due}" if due else "")
    return text[:1].upper() + text[1:]


async def reply_for(session: AsyncSession, answer: Answer, *, today: date, page: int = 0
                    ) -> Reply:
    """The card that answers a question."""
    query = answer.query
    if query.intent == "summary":
        return Reply(cards=[summary_card(SummaryView(title="RAG by theme",
                                                     counts=answer.counts))])
    if query.intent == "show" and len(answer.rows) == 1:
        row = answer.rows[0]
        action = row.action  # with its objective's ref and text (None when it has none)
        updates = [UpdateLine(when=u.at.date(), source=u.source, by=u.by_name, rag=u.rag,
                              progress=u.progress, evidence=u.evidence)
                   for u in await history(session, action.id)]
        objective = (f"{action.objective_ref} {action.objective_text}"
                     if action.objective_ref is not None else None)
        return Reply(cards=[action_card(ActionView(
            line=_line(row, today), theme=row.theme, measures=action.measures,
            objective=objective, history=updates))])
    by_lead: dict[str, int] = {}
    if query.intent == "not_updated":
        for row in answer.rows:
            for lead in row.leads or ["(no lead written)"]:
                by_lead[lead] = by_lead.get(lead, 0) + 1
    view = ListView(title=title_of(query, today), question=query.text,
                    by_lead=sorted(by_lead.items(), key=lambda item: (-item[1], item[0])),
                    lines=[_line(row, today) for row in answer.rows[page * PAGE:(page + 1) * PAGE]],
                    page_only=True,
                    total=min(answer.total, len(answer.rows)) if answer.rows else answer.total,
                    page=page, note=query.note)
    return Reply(cards=[list_card(view)])


async def answer_text(turn: Turn, deps: Deps, *, page: int = 0) -> Reply | None:
    """Answer a question, or None when it is not one (the caller then explains what works)."""
    today = deps.today()
    async with reading(deps.sessions) as session:
        lex = await lexicon(session=session)
        query = lex.parse(turn.text, today=today)
        if query.intent not in ("unknown", "help") and (refused := await access.refusal(
                session, turn, deps, what="answer questions about the plans",
                plan_name=query.plan, hint="Name the plan in your question.")):
            return Reply(text=refused)  # PLANBOT_READERS (dialogs/access.py)
        asker = await acting_person(session, turn) if query.mine else None  # only when asked
        answer = await run(session, query, lex, today=today, tz=deps.timezone,
                           asker_id=asker.id if asker else None, limit=MAX_ROWS)
        if answer.query.intent == "unknown" and (answer.query.note or "").startswith("no action"):
            return Reply(text=f"Sorry, there is {answer.query.note} in the plans I hold. Try "
                              "'summary' to see the themes, or 'help'.")
        if answer.query.intent in ("unknown", "help"):
            return None
        if answer.query.mine and asker is None:
            return Reply(text="I don't know which actions are yours yet: ask an admin to link "
                              "you to your name in the plan.")
        if answer.query.mine and not answer.total and not await linked_to_a_lead(
                session, asker.id, lex):
            return Reply(text=not_linked(asker.display_name))
        return await reply_for(session, answer, today=today, page=page)


def not_linked(name: str) -> str:
    """Why "my actions" finds nothing for someone no lead of the plans is linked to."""
    return (f"You ({name}) are not linked to any lead in the plans, so I can't tell which "
            "actions are yours. Ask a planbot admin to link you to your name as the plan "
            f"writes it, for example “link SH to {name}”. Meanwhile you can ask for a lead's "
            "actions by name (“Karen Dolton's actions”).")


class MorePage(BaseModel):
    """The data of a 'Show more' button."""

    model_config = ConfigDict(extra="ignore")
    question: str = Field(min_length=1, max_length=1000)
    page: int = Field(ge=1, le=MAX_ROWS // PAGE)


@router.verb("ask.more")
async def more(turn: Turn, deps: Deps) -> Reply:
    """The next page of a list answer."""
    try:
        data = MorePage.model_validate(turn.value or {})
    except ValidationError:
        return Reply(text="That button is out of date; ask the question again.")
    again = replace(turn, text=data.question, value=None)
    return await answer_text(again, deps, page=data.page) or Reply(
        text="That button is out of date; ask the question again.")
