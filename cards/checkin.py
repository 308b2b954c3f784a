"""Weekly check-in cards: the lead's card, the receipt, who is missing, lead-to-user links."""

from __future__ import annotations

import json
from datetime import date
from typing import Literal

from pydantic import BaseModel

from cards.common import RAG_COLOURS, card, heading, text

RagValue = Literal["red", "amber", "green", "blue"]

MAX_ACTIONS = 15  # actions on one check-in card; the rest come the week after
MAX_CARD_KB = 80.0  # Teams advises at most ~80 KB (UTF-16) per card
PROGRESS_MAX, NOTE_MAX, TITLE_MAX = 4000, 2000, 300  # NOTE_MAX: evidence and blockers
MAX_SUGGESTIONS, MAX_UNMATCHED, MAX_MISSING = 20, 30, 50
RAG_CHOICES = [{"title": value.title(), "value": value} for value in RAG_COLOURS]
SUBMIT_VERB = "checkin.submit"


class CheckinActionView(BaseModel):
    """One action on a lead's check-in card."""

    action_id: int
    ref: str
    title: str
    theme: str | None = None
    due_text: str | None = None
    due_date: date | None = None
    overdue: bool = False
    last_rag: RagValue | None = None
    last_progress: str | None = None
    last_update_at: date | None = None


class CheckinView(BaseModel):
    """What a lead's weekly check-in card shows."""

    token: str
    lead_name: str
    plan_name: str
    period_label: str
    actions: list[CheckinActionView]
    user_mri: str | None = None
    banner: str | None = None
    errors: dict[int, str] = {}
    values: dict[str, str] = {}
    not_shown: int = 0  # the lead's other open actions, left for later weeks


class RecordedActionView(BaseModel):
    """What was stored for one action."""

    ref: str
    title: str
    rag: str | None = None
    no_change: bool = False
    progress: str | None = None
    evidence: str | None = None
    blockers: str | None = None


class RecordedView(BaseModel):
    """The read-only receipt that replaces a submitted check-in card."""

    lead_name: str
    plan_name: str
    period_label: str
    recorded_at_label: str
    actions: list[RecordedActionView]
    by_name: str | None = None


class MissingView(BaseModel):
    """For the plan owner: leads who have not answered this week's check-in."""

    plan_name: str
    period_label: str
    missing: list[tuple[str, int]]
    answered: int
    total: int


class LinkSuggestionView(BaseModel):
    """For an admin: leads as written, with a suggested Teams user and a confidence 0-100."""

    items: list[tuple[str, str | None, int]]
    unmatched: list[str] = []


def cut(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, ending in "…" when cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def card_kb(content: dict) -> float:
    """A card's size in KB as Teams counts it (UTF-16)."""
    return len(json.dumps(content, ensure_ascii=False).encode("utf-16-le")) / 1024


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _rag_line(label: str, rag: str | None) -> dict:
    if rag is None or rag.lower() not in RAG_COLOURS:
        return text(f"{label}: not given", isSubtle=True, spacing="Small")
    return text(f"{label}: {rag.title()}", color=RAG_COLOURS[rag.lower()], weight="Bolder",
                spacing="Small")


def _execute(title: str, verb: str, data: dict, **extra) -> dict:
    """An Action.Execute with an Action.Submit fallback (verb inside data) for older clients."""
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": data, **extra,
            "fallback": {"type": "Action.Submit", "title": title, "data": {"verb": verb, **data}}}


def _due_line(action: CheckinActionView) -> dict:
    written = action.due_text or (_day(action.due_date) if action.due_date else None)
    if written is None:
        return text("Due: no date set", isSubtle=True, spacing="Small")
    if action.overdue:
        return text(f"Due: {cut(written, 100)} · Overdue", color="Attention", weight="Bolder",
                    spacing="Small")
    return text(f"Due: {cut(written, 100)}", spacing="Small")


def _last_lines(action: CheckinActionView) -> list[dict]:
    if action.last_rag is None and not action.last_progress:
        return [text("No update recorded yet.", isSubtle=True, spacing="Small")]
    lines = [_rag_line("Last RAG", action.last_rag)]
    if action.last_progress:
        when = f" ({_day(action.last_update_at)})" if action.last_update_at else ""
        lines.append(text(f"Last note{when}: {cut(action.last_progress, 300)}", isSubtle=True,
                          spacing="Small"))
    return lines


def _inputs(action: CheckinActionView, values: dict[str, str]) -> list[dict]:
    key = action.action_id
    rag = values.get(f"rag_{key}", action.last_rag or "").strip().lower()
    choice = {"type": "Input.ChoiceSet", "id": f"rag_{key}", "label": "RAG this week",
              "style": "compact", "placeholder": "Choose a rating", "choices": RAG_CHOICES}
    if rag in RAG_COLOURS:
        choice["value"] = rag
    no_change = values.get(f"nochange_{key}", "false").strip().lower()
    return [
        choice,
        {"type": "Input.Text", "id": f"progress_{key}", "label": "Progress this week",
         "isMultiline": True, "maxLength": PROGRESS_MAX,
         "value": values.get(f"progress_{key}", "")[:PROGRESS_MAX]},
        {"type": "Input.Text", "id": f"evidence_{key}", "label": "Evidence (text or link)",
         "maxLength": NOTE_MAX, "value": values.get(f"evidence_{key}", "")[:NOTE_MAX]},
        {"type": "Input.Text", "id": f"blockers_{key}", "label": "Blockers or help needed",
         "maxLength": NOTE_MAX, "value": values.get(f"blockers_{key}", "")[:NOTE_MAX]},
        {"type": "Input.Toggle", "id": f"nochange_{key}", "title": "No change this week",
         "valueOn": "true", "valueOff": "false",
         "value": "true" if no_change == "true" else "false"},
    ]


def _action_block(action: CheckinActionView, view: CheckinView) -> dict:
    items = [text(f"{action.ref} {cut(action.title, TITLE_MAX)}", weight="Bolder")]
    if action.theme:
        items.append(text(cut(action.theme, 200), isSubtle=True, spacing="None"))
    items += [_due_line(action), *_last_lines(action)]
    if action.action_id in view.errors:
        items.append(text(cut(view.errors[action.action_id], 500), color="Attention",
                          weight="Bolder"))
    items += _inputs(action, view.values)
    return {"type": "Container", "separator": True, "spacing": "Large", "items": items}


def _checkin_header(view: CheckinView) -> list[dict]:
    body = [heading(f"Weekly check-in: {view.plan_name}"),
            text(f"{view.lead_name} · {view.period_label}", isSubtle=True, spacing="None")]
    if view.banner:
        body.append(text(cut(view.banner, 500), weight="Bolder",
                         color="Attention" if view.errors else "Warning"))
    if not view.actions:
        body.append(text("You have no open actions this week. Nothing to do, thank you."))
        return body
    body += [text("For each action choose this week's RAG and say what has moved, or tick "
                  "\"No change this week\". Then press Send once at the end."),
             text("Blue means achieved and evidenced: a Blue rating needs evidence (a document, "
                  "link or report).", isSubtle=True, spacing="Small")]
    return body


def _checkin_body(view: CheckinView, shown: int) -> dict:
    body = _checkin_header(view)
    body += [_action_block(action, view) for action in view.actions[:shown]]
    rest = len(view.actions) - shown
    if rest > 0:
        later = "did not fit with your answers" if view.values else "will come next week"
        body.append(text(f"{_plural(rest, 'more action')} {later}.", isSubtle=True, separator=True))
    if view.not_shown:
        body.append(text(f"You lead {_plural(view.not_shown, 'more open action')} that will "
                         "come on the next weeks' cards; to update one now, write for example: "
                         "update 2.4 amber: audit booked for March", isSubtle=True,
                         separator=True))
    actions = None
    if view.actions:
        actions = [_execute("Send check-in", SUBMIT_VERB, {"token": view.token},
                            style="positive")]
    result = card(body, actions)
    if view.user_mri:
        result["refresh"] = {"action": {"type": "Action.Execute", "verb": "checkin.refresh",
                                        "data": {"token": view.token}},
                             "userIds": [view.user_mri]}
    return result


def checkin_card(view: CheckinView) -> dict:
    """Build a lead's weekly check-in card: one block of inputs per action, one Send button."""
    shown = min(len(view.actions), MAX_ACTIONS)
    result = _checkin_body(view, shown)
    while shown > 1 and card_kb(result) > MAX_CARD_KB:  # only with very long re-filled answers
        shown -= 1
        result = _checkin_body(view, shown)
    return result


def _recorded_block(action: RecordedActionView) -> dict:
    items = [text(f"{action.ref} {cut(action.title, TITLE_MAX)}", weight="Bolder"),
             _rag_line("RAG", action.rag)]
    if action.no_change:
        items.append(text("No change this week", isSubtle=True, spacing="Small"))
    facts = [{"title": title, "value": cut(value, limit)} for title, value, limit in (
        ("Progress", action.progress, 600), ("Evidence", action.evidence, 300),
        ("Blockers", action.blockers, 300)) if value]
    if facts:
        items.append({"type": "FactSet", "facts": facts, "spacing": "Small"})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def recorded_card(view: RecordedView) -> dict:
    """Build the read-only receipt of a check-in: what was stored per action."""
    by = f" by {view.by_name}" if view.by_name else ""
    body = [heading("Recorded — thank you"),
            text(f"{view.plan_name} · {view.lead_name} · {view.period_label}", isSubtle=True,
                 spacing="None"),
            text(f"Recorded {view.recorded_at_label}{by}.", spacing="Small")]
    if not view.actions:
        body.append(text("Nothing was recorded for any action.", isSubtle=True))
    body += [_recorded_block(action) for action in view.actions]
    return card(body)


def missing_card(view: MissingView) -> dict:
    """Build the plan owner's card of leads who have not answered this week's check-in."""
    body = [heading("Check-in: who has not answered"),
            text(f"{view.plan_name} · {view.period_label}", isSubtle=True, spacing="None"),
            text(f"{view.answered} of {view.total} "
                 + ("lead has" if view.total == 1 else "leads have") + " answered.")]
    if not view.missing:
        body.append(text("Everyone has answered. Thank you.", color="Good", weight="Bolder"))
        return card(body)
    body.append({"type": "FactSet", "facts": [
        {"title": cut(name, 120), "value": f"{_plural(count, 'open action')}"}
        for name, count in view.missing[:MAX_MISSING]]})
    if len(view.missing) > MAX_MISSING:
        body.append(text(f"and {len(view.missing) - MAX_MISSING} more", isSubtle=True))
    return card(body)


def _suggestion(lead: str, user: str | None, confidence: int) -> dict:
    items = [text(cut(lead, 200), weight="Bolder")]
    if user is None:
        items.append(text("No likely Teams user found.", isSubtle=True, spacing="None"))
    else:
        items += [text(f"→ {cut(user, 200)} ({confidence}% match)", spacing="None"),
                  {"type": "ActionSet", "actions": [
                      _execute("Confirm", "people.link", {"lead": lead, "user": user})]}]
    return {"type": "Container", "separator": True, "items": items}


def link_suggestions_card(view: LinkSuggestionView) -> dict:
    """Build the admin's card of suggested lead-to-Teams-user links, each with a Confirm."""
    body = [heading("Link leads to Teams users"),
            text("Leads are written in the plan as names or roles. Confirm each suggested "
                 "Teams user so check-ins reach the right person.", isSubtle=True)]
    if not view.items and not view.unmatched:
        body.append(text("Every lead is linked to a Teams user."))
    body += [_suggestion(*item) for item in view.items[:MAX_SUGGESTIONS]]
    if len(view.items) > MAX_SUGGESTIONS:
        body.append(text(f"and {len(view.items) - MAX_SUGGESTIONS} more suggestions: confirm "
                         "these and ask again.", isSubtle=True))
    if view.unmatched:
        body.append(text(f"No Teams user found for {_plural(len(view.unmatched), 'lead')}:",
                         weight="Bolder", separator=True, spacing="Medium"))
        body += [text(f"• {cut(lead, 200)}", spacing="None")
                 for lead in view.unmatched[:MAX_UNMATCHED]]
        if len(view.unmatched) > MAX_UNMATCHED:
            body.append(text(f"and {len(view.unmatched) - MAX_UNMATCHED} more", isSubtle=True))
    return card(body)
