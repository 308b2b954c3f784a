"""Weekly check-in cards: the lead's card, the receipt, and who is missing (for the owner)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Literal

from pydantic import BaseModel

from cards.common import (
    RAG_COLOURS,
    and_list,
    card,
    command,
    cut,
    cut_words,
    execute,
    heading,
    keep_together,
    plural,
    rag_word,
    text,
)
from storage.rules import short_date

RagValue = Literal["red", "amber", "green", "blue"]
ErrorField = Literal["rag", "progress", "evidence", "blockers", "nochange", "corrective"]

MAX_ACTIONS = 15  # actions on one check-in card; the rest come the week after
# Teams advises at most ~80 KB (UTF-16) per card; the outbox adds a 0.2 KB marker element
# (storage.outbox.with_marker), so cards are kept under 79.5.
MAX_CARD_KB = 79.5
PROGRESS_MAX, NOTE_MAX, TITLE_MAX = 4000, 2000, 300  # NOTE_MAX: evidence and blockers
TITLE_SHOWN, NOTE_SHOWN, DUE_SHOWN = 56, 64, 40  # the check-in card cuts these at a word
MAX_MISSING = 50
RAG_CHOICES = [{"title": rag_word(value), "value": value} for value in RAG_COLOURS]
SUBMIT_VERB = "checkin.submit"


class CheckinActionView(BaseModel):
    """One action on a lead's check-in card."""

    action_id: int
    ref: str
    title: str
    theme: str | None = None
    due_text: str | None = None
    due_date: date | None = None
    due_label: str | None = None  # shown as is; by default due_text, plus the parsed day
    overdue: bool = False
    last_rag: RagValue | None = None
    last_progress: str | None = None
    last_update_at: date | None = None
    last_update_id: int = 0  # the status update the card shows (0: none yet)


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
    # Which input each error is about, so it is shown under that input; guessed from the
    # message ("Blue means…" and "Evidence…" go under Evidence) when not given.
    error_fields: dict[int, ErrorField] = {}
    values: dict[str, str] = {}
    not_shown: int = 0  # the lead's other open actions, left for later weeks
    # Whose actions a delegate answers: "Karen Dolton (away until Fri 11 Dec 2026): 4c, 4d".
    standing_in: list[str] = []


class RecordedActionView(BaseModel):
    """What was stored for one action."""

    ref: str
    title: str
    rag: str | None = None
    no_change: bool = False
    progress: str | None = None
    evidence: str | None = None
    blockers: str | None = None
    corrective_action: str | None = None
    next_review: date | None = None


class RecordedView(BaseModel):
    """The read-only receipt that replaces a submitted check-in card."""

    lead_name: str
    plan_name: str
    period_label: str
    recorded_at_label: str
    actions: list[RecordedActionView]
    by_name: str | None = None
    notices: list[str] = []  # what was not saved, and why


class MissingView(BaseModel):
    """For the plan owner: leads who have not answered this week's check-in."""

    plan_name: str
    period_label: str
    missing: list[tuple[str, int]]
    answered: int
    total: int
    reminder_days: list[str] = []  # e.g. ["Wednesday", "Thursday"]: when the chasers went
    unreachable: list[tuple[str, str]] = []  # (lead, why): cards Teams refused for good


def card_kb(content: dict) -> float:
    """A card's size in KB as Teams counts it (UTF-16)."""
    return len(json.dumps(content, ensure_ascii=False).encode("utf-16-le")) / 1024


def _run(value: str, **style) -> dict:
    return {"type": "TextRun", "text": value, **style}


# --- the check-in card ----------------------------------------------------------------------

def _same_day(written: str, day: date) -> bool:
    """True when the due text as written already says the parsed day ("31 Jan 2015")."""
    plain = " ".join(written.lower().replace(",", " ").split())
    spelled = {f"{day.day} {day:%b %Y}", f"{day.day} {day:%B %Y}", f"{day:%d %b %Y}",
               f"{day:%d %B %Y}", f"{day.day}/{day.month}/{day.year}", f"{day:%d/%m/%Y}",
               f"{day:%d/%m/%y}", f"{day:%Y-%m-%d}", f"{day.day}.{day.month}.{day.year}",
               f"{day:%d.%m.%Y}"}
    return plain in {value.lower() for value in spelled}


def due_label(action: CheckinActionView) -> str | None:
    """The due date as written, with the day it was read as when that says something more:
    "Jan-15 (31 Jan 2015)"."""
    if action.due_label:
        return cut_words(action.due_label, 2 * DUE_SHOWN)
    written = cut_words(action.due_text, DUE_SHOWN) if action.due_text else None
    if action.due_date is None:
        return written or None
    parsed = short_date(action.due_date)
    if not written:
        return parsed
    return written if _same_day(written, action.due_date) else f"{written} ({parsed})"


def _facts(action: CheckinActionView) -> dict:
    """One line: due, overdue, last RAG and when it was last updated."""
    due = due_label(action)
    runs = [_run(f"Due {keep_together(due)}" if due else "No due date")]
    if action.overdue:
        runs += [_run(" · "), _run("Overdue", color="Attention", weight="Bolder")]
    last = rag_word(action.last_rag)
    when = keep_together(short_date(action.last_update_at)) if action.last_update_at else None
    if last:
        runs.append(_run(f" · Last RAG {last}" + (f", {when}" if when else "")))
    elif when:
        runs.append(_run(f" · Last update {when}"))
    else:
        runs.append(_run(" · No update yet"))
    return {"type": "RichTextBlock", "inlines": runs, "spacing": "Small"}


def _error(message: str) -> dict:
    return text(cut(message, 500), color="Attention", weight="Bolder", spacing="Small")


def _without_ref(message: str, ref: str) -> str:
    """The message without the "3a: " dialogs put in front (the card shows it under 3a)."""
    return message[len(ref) + 1:].lstrip() if message.startswith(f"{ref}:") else message


_FIELD_OF_MESSAGE = (("blue means", "evidence"), ("red or amber", "corrective"),
                     ("corrective", "corrective"), ("next review", "corrective"),
                     ("evidence", "evidence"),
                     ("blockers", "blockers"), ("progress", "progress"), ("rag", "rag"),
                     ("no change", "nochange"))


def _error_of(view: CheckinView, action: CheckinActionView) -> tuple[str | None, str] | None:
    """(the input it is about or None, the message) for this action's error, if any."""
    message = view.errors.get(action.action_id)
    if not message:
        return None
    message = _without_ref(message.strip(), action.ref)
    field = view.error_fields.get(action.action_id) or next(
        (field for start, field in _FIELD_OF_MESSAGE if message.lower().startswith(start)), None)
    return field, message


def _choice(action: CheckinActionView, values: dict[str, str]) -> dict:
    key = action.action_id
    rag = values.get(f"rag_{key}", action.last_rag or "").strip().lower()
    choice = {"type": "Input.ChoiceSet", "id": f"rag_{key}", "label": "RAG this week",
              "style": "compact", "placeholder": "Choose", "choices": RAG_CHOICES}
    if rag in RAG_COLOURS:
        choice["value"] = rag
    return choice


def _toggle(action: CheckinActionView, values: dict[str, str]) -> dict:
    on = values.get(f"nochange_{action.action_id}", "false").strip().lower() == "true"
    return {"type": "Input.Toggle", "id": f"nochange_{action.action_id}",
            "title": "No change this week", "valueOn": "true", "valueOff": "false",
            "value": "true" if on else "false"}


def _note_input(kind: str, key: int, label: str, limit: int, values: dict[str, str],
                **extra) -> dict:
    value = values.get(f"{kind}_{key}", "")[:limit]
    return {"type": "Input.Text", "id": f"{kind}_{key}", "label": label, "isMultiline": True,
            "maxLength": limit, **({"value": value} if value else {}), **extra}


def _iso_day(value: str) -> str:
    """A date input's value: YYYY-MM-DD, or empty (a date picker cannot show other text)."""
    value = value.strip()[:10]
    return value if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else ""


def _expanded(view: CheckinView, action: CheckinActionView, field: str | None,
              has_error: bool) -> bool:
    """Evidence and blockers are shown at once when they hold an answer or an error is there."""
    key = action.action_id
    return (has_error and field in (None, "evidence", "blockers")) or any(
        view.values.get(f"{kind}_{key}", "").strip() for kind in ("evidence", "blockers"))


def _action_block(action: CheckinActionView, view: CheckinView) -> dict:
    key, values = action.action_id, view.values
    error = _error_of(view, action)
    field, message = error if error else (None, "")

    def after(name: str | None) -> list[dict]:
        return [_error(message)] if error and field == name else []

    items = [text(f"{action.ref} · {cut_words(action.title, TITLE_SHOWN)}", size="Large",
                  weight="Bolder")]
    if action.theme:
        items.append(text(cut_words(action.theme, 120), isSubtle=True, spacing="None"))
    items.append(_facts(action))
    if action.last_progress:
        items.append(text(f"Last note: {cut_words(action.last_progress, NOTE_SHOWN)}",
                          isSubtle=True, spacing="Small"))
    if error and field not in ("rag", "nochange", "progress", "evidence", "blockers",
                                  "corrective"):
        items.append(_error(message))
    expanded = _expanded(view, action, field, error is not None)
    beside = [_toggle(action, values)]
    if not expanded:  # under the toggle, level with the RAG choice: no extra row
        beside.append({"type": "ActionSet", "spacing": "Small", "actions": [
            {"type": "Action.ToggleVisibility", "title": "Add evidence or blockers",
             "targetElements": [f"more_{key}"]}]})
    items.append({"type": "ColumnSet", "spacing": "Default", "columns": [
        {"type": "Column", "width": "stretch", "items": [_choice(action, values)]},
        {"type": "Column", "width": "stretch", "items": beside}]})
    items += after("rag") + after("nochange")
    items.append(_note_input("progress", key, "Progress this week", PROGRESS_MAX, values,
                             placeholder="What has moved since the last update?",
                             spacing="Small"))
    items += after("progress")
    items.append({"type": "ColumnSet", "spacing": "Small", "columns": [
        {"type": "Column", "width": "stretch", "items": [_note_input(
            "corrective", key, "If Red or Amber: corrective action", NOTE_MAX, values,
            placeholder="What is being done to bring it back on track?")]},
        {"type": "Column", "width": "auto", "items": [
            {"type": "Input.Date", "id": f"review_{key}", "label": "Next review",
             **({"value": day} if (day := _iso_day(values.get(f"review_{key}", ""))) else {})}
        ]}]})
    items += after("corrective")
    more = [_note_input("evidence", key, "Evidence (a link, document or report)", NOTE_MAX,
                        values), *after("evidence"),
            _note_input("blockers", key, "Blockers or help needed", NOTE_MAX, values),
            *after("blockers")]
    items.append({"type": "Container", "id": f"more_{key}", "isVisible": expanded,
                  "spacing": "Small", "items": more})
    return {"type": "Container", "separator": True, "spacing": "Large", "items": items}


def _error_banner(view: CheckinView) -> str | None:
    """"Nothing was saved: 23b needs evidence for Blue." naming the actions at fault."""
    blue, other = [], []
    for action in view.actions:
        error = _error_of(view, action)
        if error is not None:
            (blue if error[1].lower().startswith("blue means") else other).append(action.ref)
    if not blue and not other:
        return view.banner
    parts = []
    if blue:
        parts.append(f"{and_list(blue)} {'needs' if len(blue) == 1 else 'need'} evidence for Blue")
    if other:
        parts.append(("also check " if blue else "please check ") + f"{and_list(other)} below")
    banner = f"Nothing was saved: {'; '.join(parts)}."
    extra = re.sub(r"^nothing was saved( yet)?:\s*", "", (view.banner or "").strip(),
                   flags=re.IGNORECASE)
    if extra and not re.fullmatch(r"please fix the .*marked below\.?", extra, re.IGNORECASE):
        banner += f" {extra}"
    return banner


def _checkin_header(view: CheckinView) -> list[dict]:
    body = [heading("Weekly check-in", size="ExtraLarge"),
            text(f"{view.plan_name} · {keep_together(view.lead_name)} · "
                 f"{keep_together(view.period_label)}", isSubtle=True, spacing="None")]
    banner = _error_banner(view) if view.errors else view.banner
    if banner:
        body.append(text(cut(banner, 500), weight="Bolder", spacing="Medium",
                         color="Attention" if view.errors else "Accent"))
    for line in view.standing_in:
        body.append(text(cut(f"As their delegate, for {line}", 300), spacing="Small"))
    if not view.actions:
        body.append(text("You have no open actions this week. Nothing to do, thank you."))
        return body
    body.append(text("For each action choose this week's RAG and say what has moved, or tick "
                     "“No change this week”. Red or Amber needs the corrective action and the "
                     "next review date; Blue means achieved and evidenced, so it needs "
                     "evidence. Press Send once, at the end.", isSubtle=True))
    return body


def _checkin_body(view: CheckinView, shown: int) -> dict:
    body = _checkin_header(view)
    body += [_action_block(action, view) for action in view.actions[:shown]]
    rest = len(view.actions) - shown
    if rest > 0:
        later = "did not fit with your answers" if view.values else "will come next week"
        body.append(text(f"{plural(rest, 'more action')} {later}.", isSubtle=True,
                         separator=True, spacing="ExtraLarge"))
    if view.not_shown:
        example = view.actions[0].ref if view.actions else "2.4"
        body += [text(f"You lead {plural(view.not_shown, 'more open action')}; they come on the "
                      "next weeks' cards. To update any action now, send me for example:",
                      isSubtle=True, separator=True,
                      spacing="Medium" if rest > 0 else "ExtraLarge"),
                 command(f"update {example} amber: what has moved; corrective: what is being "
                         "done; review: 12 December")]
    actions = None
    if view.actions:
        seen = ",".join(f"{action.action_id}:{action.last_update_id}"
                        for action in view.actions[:shown])
        actions = [execute("Send check-in", SUBMIT_VERB, {"token": view.token, "seen": seen},
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


# --- the receipt ----------------------------------------------------------------------------

def _recorded_block(action: RecordedActionView) -> dict:
    rag = rag_word(action.rag)
    status = [f"RAG {rag}" if rag else "RAG not given"]
    if action.no_change:
        status.append("No change this week")
    items = [text(f"{action.ref} · {cut_words(action.title, 90)}", weight="Bolder"),
             text(" · ".join(status), spacing="Small")]
    review = short_date(action.next_review) if action.next_review else None
    facts = [{"title": title, "value": cut(value, limit)} for title, value, limit in (
        ("Progress", action.progress, 600), ("Corrective action", action.corrective_action, 300),
        ("Next review", review, 40), ("Evidence", action.evidence, 300),
        ("Blockers", action.blockers, 300)) if value]
    if facts:
        items.append({"type": "FactSet", "facts": facts, "spacing": "Small"})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def recorded_card(view: RecordedView) -> dict:
    """Build the read-only receipt of a check-in: what was stored per action, and what was not
    (the notices); "Nothing was saved" when no answer was stored and something was refused."""
    by = f" by {view.by_name}" if view.by_name and view.by_name != view.lead_name else ""
    when = f" {view.recorded_at_label.strip()}" if view.recorded_at_label.strip() else ""
    saved = any(not action.no_change for action in view.actions) or not view.notices
    body = [heading("Recorded — thank you" if saved else "Nothing was saved"),
            text(f"{view.plan_name} · {keep_together(view.lead_name)} · "
                 f"{keep_together(view.period_label)}", isSubtle=True, spacing="None")]
    if saved:
        body.append(text(f"Recorded{when}{by}.", spacing="Small"))
    body += [text(cut(notice, 500), weight="Bolder", color="Attention", spacing="Small")
             for notice in view.notices]
    if not saved or not view.actions:
        if saved:
            body.append(text("Nothing was recorded for any action.", isSubtle=True))
        return card(body)
    body += [_recorded_block(action) for action in view.actions]
    first = view.actions[0]
    rag = (first.rag or "amber").strip().lower()
    body.append(text("Made a mistake? Send a new update: "
                     f"“update {first.ref} {rag if rag in RAG_COLOURS else 'amber'}: …”",
                     isSubtle=True, separator=True, spacing="Medium"))
    return card(body)


def not_yours_card(lead_name: str) -> dict:
    """What someone else sees of a lead's check-in card: whose it is, none of its answers."""
    return card([heading("Weekly check-in"),
                 text(f"This check-in is for {keep_together(lead_name)}. Only they, their "
                      "delegate or a plan admin can see and answer it.")])


# --- who has not answered -------------------------------------------------------------------

def missing_card(view: MissingView) -> dict:
    """Build the plan owner's card of leads who have not answered this week's check-in."""
    body = [heading(f"Check-in: {view.answered} of {view.total} "
                    + ("lead" if view.total == 1 else "leads") + " answered"),
            text(f"{view.plan_name} · {keep_together(view.period_label)}", isSubtle=True,
                 spacing="None")]
    if not view.missing:
        body.append(text("Everyone has answered. Thank you.", weight="Bolder"))
        return card(body)
    if view.unreachable:
        body.append(text(f"Could not be reached: {plural(len(view.unreachable), 'lead')}",
                         weight="Bolder", spacing="Medium", color="Attention"))
        body.append({"type": "FactSet", "spacing": "Small", "facts": [
            {"title": cut(name, 120), "value": why}
            for name, why in view.unreachable[:MAX_MISSING]]})
        if len(view.unreachable) > MAX_MISSING:
            body.append(text(f"and {len(view.unreachable) - MAX_MISSING} more", isSubtle=True,
                             spacing="Small"))
        body.append(text("Ask them to open planbot in Teams (or a Teams admin to reinstall it) "
                         "so the next card reaches them.", isSubtle=True, spacing="Small"))
    body.append(text(f"Not answered yet: {plural(len(view.missing), 'lead')}, most open "
                     "actions first", weight="Bolder", spacing="Medium"))
    ordered = sorted(view.missing, key=lambda item: (-item[1], item[0].casefold()))
    body.append({"type": "FactSet", "spacing": "Small", "facts": [
        {"title": cut(name, 120), "value": plural(count, "open action")}
        for name, count in ordered[:MAX_MISSING]]})
    if len(ordered) > MAX_MISSING:
        body.append(text(f"and {len(ordered) - MAX_MISSING} more", isSubtle=True,
                         spacing="Small"))
    days = and_list(view.reminder_days) if view.reminder_days else None
    body.append(text(f"Reminders were sent on {days}." if days
                     else "Reminders were sent during the week.", isSubtle=True))
    return card(body)


# --- lead-to-user links ---------------------------------------------------------------------
