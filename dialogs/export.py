"""'board report', 'export the plan to Excel': the file is made now and offered at a signed link."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cards.export import export_card
from dialogs import access
from dialogs.commands import read_day
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router, normalise
from storage.export.links import save_export
from storage.export.render import render
from storage.export.snapshot import ExportError
from storage.models import Plan

router = Router()
_FORMAT_WORDS = {"excel": "xlsx", "xlsx": "xlsx", "spreadsheet": "xlsx", "tracker": "xlsx",
                 "csv": "csv", "json": "json", "word": "docx", "docx": "docx"}
_AS_OF = r"(?: (?:as of|as at|at|on|for) (?P<as_of>.+))?"


@router.intent(r"(?:please )?(?:make |create |give me |get |send |send me |show |export )?"
               r"(?:me )?(?:the |a |this month's |our )?(?:monthly )?board (?:report|paper)"
               r"(?: for (?P<plan>(?!\d).+?))?" + _AS_OF)
async def board_report(turn: Turn, deps: Deps) -> Reply:
    """The improvement board's paper (docx)."""
    return await _export(turn, deps, "docx")


_EXPORT = (r"(?:please )?(?:export|download|give me|send me|get)(?: me)?"
           r"(?P<what>(?: .+?)??)(?: (?:to|as|in|into))?(?: an?)? (?P<fmt>excel|xlsx|spreadsheet"
           r"|tracker|csv|json|word|docx)(?: file| spreadsheet| document)?" + _AS_OF)
_FILLER = {"the", "this", "our", "my", "whole", "plan", "tracker", "data", "all", "of", "for",
           "to", "as", "in", "into", "a", "an"}


@router.intent(_EXPORT)
async def export_plan(turn: Turn, deps: Deps) -> Reply:
    """The tracker (xlsx / csv) or the plan's data (json), or the board report (word): of the
    whole plan, named or not ("export Northvale Plan to Excel"); a selection is not exported."""
    match = re.fullmatch(_EXPORT, normalise(turn.text), re.IGNORECASE | re.DOTALL)
    fmt = _FORMAT_WORDS[match["fmt"].lower()] if match else "xlsx"
    what = (match["what"] if match else "").strip()
    if what and set(what.lower().split()) - _FILLER:
        async with deps.sessions() as session:
            names = await _plan_names(session)
        rest = _without_names(what, names)
        if set(rest.lower().split()) - _FILLER:
            return Reply(text=f"I can export a whole plan, not a selection such as "
                              f"'{rest[:60]}'. Say for example 'export the plan to Excel' "
                              "(or name the plan), or ask for the actions in chat.")
    return await _export(turn, deps, fmt)


def _without_names(text: str, names: list[str]) -> str:
    """The message without the plan names (or organisations) it says: 'board report for
    Improvement Plan 2023' names a plan, not a date. Longest names first."""
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?:\b(?:for|of) )?(?:the )?{re.escape(name)}(?: plan)?", " ", text,
                      flags=re.I)
    return " ".join(text.split())


async def _plan_names(session) -> list[str]:
    rows = (await session.execute(select(Plan.name, Plan.organisation))).all()
    return [name for row in rows for name in row if name]


def _as_of(turn: Turn, deps: Deps, names: list[str]) -> tuple[date | None, str | None]:
    """The day asked for ('as of 31 March'), or today; a message when it cannot be read. The
    plans' names are taken out first: only the rest of the message is read as a date."""
    found = re.search(r"\b(?:as of|as at|on|at|for) (.+)$", _without_names(turn.text, names),
                      re.I)
    today = deps.today()
    if not found or not re.search(r"\d", found.group(1)):
        return today, None
    words = found.group(1).strip().rstrip("?.! ")
    day = read_day(words, today, past=True)
    if day is None:
        return None, (f"I could not read the date {words!r}. Try 'board report as of "
                      "31 March 2026'.")
    if day > today:
        return None, f"{day:%d %B %Y} is in the future; a report can only say what was known."
    return day, None


async def _plan(session, turn: Turn) -> tuple[Plan | None, str | None]:
    plans = list((await session.execute(select(Plan).order_by(Plan.name))).scalars())
    if not plans:
        return None, ("There is no plan yet: a planbot admin loads one with the planbot "
                      "import command.")
    if len(plans) == 1:
        return plans[0], None
    text = turn.text.casefold()
    named = [plan for plan in plans if plan.name.casefold() in text
             or (plan.organisation or "\0").casefold() in text]
    if len(named) == 1:
        return named[0], None
    names = "; ".join(plan.name for plan in plans[:10])
    return None, f"Which plan? Say for example 'board report for {plans[0].name}'. Plans: {names}"


async def _export(turn: Turn, deps: Deps, fmt: str) -> Reply:
    if deps.links is None:
        return Reply(text="Downloads are not set up on this bot yet, so I can't send files "
                          "here. Ask your planbot admin for the file: they can make it with the "
                          "planbot export command.")
    now = deps.clock()
    async with deps.sessions() as session, session.begin():
        plan, problem = await _plan(session, turn)
        problem = problem or await access.refusal(  # PLANBOT_READERS (dialogs/access.py)
            session, turn, deps, what=f"export {plan.name}", plan_name=plan.name)
        if problem:
            return Reply(text=problem)
        as_of, problem = _as_of(turn, deps, await _plan_names(session))
        if problem:
            return Reply(text=problem)
        try:
            result = await render(session=session, plan=plan, fmt=fmt, as_of=as_of,
                                  tz=deps.timezone)
        except ExportError as exc:
            return Reply(text=f"I could not make that file: {exc}.")
        row = await save_export(session=session, plan_id=plan.id, fmt=fmt,
                                filename=result.filename, media_type=result.media_type,
                                content=result.content, as_of=as_of, by=turn.user_name, now=now)
    expires = row.expires_at.astimezone(ZoneInfo(deps.timezone))
    url = deps.links.url(row.token, row.filename, row.expires_at)
    return Reply(cards=[export_card(plan_name=plan.name, fmt=fmt, filename=row.filename, url=url,
                                    as_of=f"{as_of:%d %B %Y}", actions=result.actions,
                                    size=len(result.content),
                                    expires=f"{expires:%d %B %Y, %H:%M}")])
