"""The weekly digest card for an improvement board's channel."""

from __future__ import annotations

from pydantic import BaseModel

from cards.common import card, cut_words, heading, plural, rag_word, text

RAGS = ("red", "amber", "green", "blue", "none")
LIST_MAX = 10


class DigestLine(BaseModel):
    """One action named in the digest."""

    ref: str
    title: str
    rag: str | None = None
    was: str | None = None  # the RAG a week ago
    due_text: str | None = None


class DigestView(BaseModel):
    """What the board sees this week for one plan."""

    plan_name: str
    week_label: str
    counts: dict[str, dict[str, tuple[int, int]]]  # theme -> rag -> (now, a week ago)
    worse: list[DigestLine] = []
    new_blue: list[DigestLine] = []
    overdue: list[DigestLine] = []
    not_updated: list[str] = []
    question_overdue: str = "what's overdue?"


def _label(rag: str | None) -> str:
    return rag_word(rag) or "⚪ No RAG"


def _count(rag: str, now: int, before: int) -> str:
    change = now - before
    arrow = f" (▲{change})" if change > 0 else f" (▼{-change})" if change < 0 else ""
    return f"{_label(rag).split()[0]} {now}{arrow}"


def _section(title: str, lines: list[DigestLine], describe) -> list[dict]:
    if not lines:
        return []
    items = [text(f"{title} ({len(lines)})", weight="Bolder", spacing="Medium", separator=True)]
    items += [text(f"**{line.ref}** {cut_words(line.title, 90)} · {describe(line)}",
                   size="Small", spacing="None") for line in lines[:LIST_MAX]]
    if len(lines) > LIST_MAX:
        items.append(text(f"and {len(lines) - LIST_MAX} more", isSubtle=True, size="Small",
                          spacing="None"))
    return items


def digest_card(view: DigestView) -> dict:
    """RAG counts by theme with change since last week, then what the board should look at."""
    body = [heading("Weekly plan digest"),
            text(f"{view.plan_name} · {view.week_label}", isSubtle=True, spacing="None"),
            text("RAG by theme (change since last week)", weight="Bolder", spacing="Medium")]
    for theme, counts in list(view.counts.items())[:20]:
        parts = [_count(rag, *counts[rag]) for rag in RAGS if rag in counts and any(counts[rag])]
        body.append(text(f"**{cut_words(theme, 70)}**: " + "  ".join(parts), size="Small",
                         spacing="Small"))
    body += _section("Went red or got worse", view.worse,
                     lambda line: f"{_label(line.was)} → {_label(line.rag)}")
    body += _section("Newly Blue (achieved and evidenced)", view.new_blue,
                     lambda line: _label(line.rag))
    body += _section("Overdue", view.overdue,
                     lambda line: f"due {line.due_text} · {_label(line.rag)}")
    if view.not_updated:
        body.append(text(f"Did not answer this week's check-in "
                         f"({plural(len(view.not_updated), 'lead')})", weight="Bolder",
                         spacing="Medium", separator=True))
        names = ", ".join(view.not_updated[:30])
        more = f" and {len(view.not_updated) - 30} more" if len(view.not_updated) > 30 else ""
        body.append(text(names + more, size="Small", spacing="None"))
    if not (view.worse or view.new_blue or view.overdue or view.not_updated):
        body.append(text("Nothing went worse, nothing is overdue, everyone answered.",
                         spacing="Medium"))
    actions = [{"type": "Action.Submit", "title": "See the overdue list",
                "data": {"msteams": {"type": "imBack", "value": view.question_overdue}}},
               {"type": "Action.Submit", "title": "Full summary",
                "data": {"msteams": {"type": "imBack", "value": "summary"}}}]
    return card(body, actions)
