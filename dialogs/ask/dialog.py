"""Questions in chat: parse, answer in SQL, reply with a card (and 'Show more' paging)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

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
from dialogs.ask.answer import Answer, Row, history, run
from dialogs.ask.lexicon import lexicon
from dialogs.ask.query import Query
from dialogs.checkin_submit import acting_person
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.db import reading
from storage.rules import is_overdue, parse_rag, short_date

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


def title_of(query: Query) -> str:
    """A short restatement of what was asked, for the card's heading."""
    parts = []
    if query.rags:
        parts.append(" or ".join(rag.value.title() for rag in query.rags))
    elif query.no_rag:
        parts.append("Not yet rated")
    elif query.open_only:
        parts.append("Open")
    kind = {"not_updated": "actions with no recent update", "changes": "changed actions"}
    parts.append(kind.get(query.intent, "actions"))
    if query.overdue:
        parts.append("overdue")
    if query.themes:
        parts.append("in " + " / ".join(query.themes))
    if query.leads:
        parts.append("for " + ", ".join(query.leads))
    if query.mine:
        parts.append("(yours)")
    if query.due_from or query.due_to:
        parts.append("due " + " to ".join(short_date(d) for d in
                                          (query.due_from, query.due_to) if d))
    if query.changed_since:
        parts.append(f"since {short_date(query.changed_since)}")
    text = " ".join(parts)
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
    view = ListView(title=title_of(query), question=query.text,
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
        return await reply_for(session, answer, today=today, page=page)


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
