"""Answer cards: a list of actions (paged), one action in full with history, a summary."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from cards.common import card, cut_words, heading, rag_word, text
from storage.rules import short_date

PAGE = 10
MORE_VERB = "ask.more"


def rag_label(rag: str | None) -> str:
    """'🔴 Red' and so on, or '⚪ No RAG' for an action not rated yet."""
    return rag_word(rag) or "⚪ No RAG"


def _cut(value: str | None, limit: int) -> str:
    return cut_words(value or "", limit)


class ActionLine(BaseModel):
    """One action in a list answer."""

    ref: str
    title: str
    rag: str | None
    leads: list[str] = []
    due_text: str | None = None
    due_date: date | None = None
    overdue: bool = False
    last_update: date | None = None
    plan: str | None = None


class ListView(BaseModel):
    """A list answer: what was asked, how many matched, this page of them."""

    title: str
    question: str
    lines: list[ActionLine]
    total: int
    page: int = 0
    page_only: bool = False  # lines holds only this page's lines (the caller cut them)
    empty_hint: str = "Nothing matches. Try 'summary' or 'help'."
    note: str | None = None  # words of the question that were not used
    by_lead: list[tuple[str, int]] = []  # for "who hasn't updated?": leads and their actions


def _due(line: ActionLine) -> str:
    if not line.due_text:
        return "no due date"
    shown, due = line.due_text, line.due_date
    if due and (day := short_date(due)) not in shown:  # "Feb-15 (28 Feb 2015)"
        shown += f" ({day})"
    return ("Overdue: " if line.overdue else "Due ") + shown


def _line(line: ActionLine) -> dict:
    facts = [rag_label(line.rag), _due(line)]
    if line.leads:
        facts.append(_cut(" / ".join(line.leads), 80))
    facts.append(f"updated {short_date(line.last_update)}"
                 if line.last_update else "no update yet")
    return {"type": "Container", "separator": True, "spacing": "Small", "items": [
        text(f"**{line.ref}** {_cut(line.title, 160)}", spacing="None"),
        text(" · ".join(facts), isSubtle=True, spacing="None", size="Small"),
    ]}


def list_card(view: ListView) -> dict:
    """Actions matching a question, PAGE at a time, with a 'Show more' button."""
    start = view.page * PAGE
    shown = view.lines[:PAGE] if view.page_only else view.lines[start:start + PAGE]
    body = [heading(view.title),
            text(f"{view.total} action{'s' if view.total != 1 else ''}"
                 + (f" · showing {start + 1}–{start + len(shown)}" if view.total > PAGE else ""),
                 isSubtle=True, spacing="None")]
    if view.note:
        body.append(text(f"Note: {view.note}.", isSubtle=True, size="Small", spacing="None"))
    if view.by_lead:
        shown_leads = ", ".join(f"{_cut(lead, 60)} ({count})" for lead, count in view.by_lead[:25])
        more = f" and {len(view.by_lead) - 25} more" if len(view.by_lead) > 25 else ""
        body.append(text(f"**Leads:** {shown_leads}{more}", spacing="Small"))
    if not shown:
        body.append(text(view.empty_hint))
    body += [_line(line) for line in shown]
    actions = None
    if start + PAGE < view.total:
        actions = [{"type": "Action.Execute", "title": "Show more", "verb": MORE_VERB,
                    "data": {"question": view.question[:500], "page": view.page + 1}}]
    return card(body, actions)


class UpdateLine(BaseModel):
    """One entry of an action's history."""

    when: date
    source: str
    by: str | None = None
    rag: str | None = None
    progress: str | None = None
    evidence: str | None = None


class ActionView(BaseModel):
    """One action in full."""

    line: ActionLine
    theme: str | None = None
    objective: str | None = None
    measures: str | None = None
    history: list[UpdateLine] = []


def action_card(view: ActionView) -> dict:
    """An action with its details and its latest updates."""
    line = view.line
    body = [heading(f"{line.ref} · {_cut(line.title, 200)}"),
            text(" · ".join(part for part in (line.plan, view.theme) if part), isSubtle=True,
                 spacing="None")]
    facts = [{"title": "RAG", "value": rag_label(line.rag)},
             {"title": "Due", "value": _due(line)},
             {"title": "Leads", "value": " / ".join(line.leads) or "none written"}]
    if view.objective:
        facts.append({"title": "Objective", "value": _cut(view.objective, 300)})
    if view.measures:
        facts.append({"title": "Measures", "value": _cut(view.measures, 300)})
    body.append({"type": "FactSet", "facts": facts})
    body.append(text("History", weight="Bolder", spacing="Medium"))
    if not view.history:
        body.append(text("No updates yet.", isSubtle=True))
    for update in view.history:
        who = f" by {update.by}" if update.by and update.by != "plan import" else ""
        body.append(text(f"{short_date(update.when)} · {rag_label(update.rag)} · "
                         f"{update.source}{who}", size="Small", weight="Bolder", spacing="Small"))
        for label, value in (("", update.progress), ("Evidence: ", update.evidence)):
            if value:
                body.append(text(label + _cut(value, 400), size="Small", spacing="None"))
    return card(body)


class SummaryView(BaseModel):
    """RAG counts per theme."""

    title: str
    counts: dict[str, dict[str, int]]


def summary_card(view: SummaryView) -> dict:
    """How are we doing: one line per theme with its RAG counts."""
    body = [heading(view.title)]
    totals: dict[str, int] = {}
    for theme, counts in view.counts.items():
        parts = [f"{rag_label(rag).split()[0]} {counts[rag]}"
                 for rag in ("red", "amber", "green", "blue", "none") if counts.get(rag)]
        for rag, count in counts.items():
            totals[rag] = totals.get(rag, 0) + count
        body.append(text(f"**{_cut(theme, 80)}**: " + "  ".join(parts), spacing="Small"))
    if not view.counts:
        body.append(text("No plan is loaded yet."))
    else:
        body.append(text("All: " + ", ".join(
            f"{rag_label(rag)} {totals[rag]}" for rag in ("red", "amber", "green", "blue", "none")
            if totals.get(rag)), weight="Bolder", separator=True))
    return card(body)
