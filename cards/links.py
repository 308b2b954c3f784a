"""The admin's card of suggested links between plan leads and Teams users."""

from __future__ import annotations

from pydantic import BaseModel

from cards.common import card, command, cut, execute, heading, plural, text

LINK_VERB = "people.link"
LIKELY = 90  # a suggested link at or above this confidence is "likely", below it "possible"
MAX_SUGGESTIONS, MAX_UNMATCHED, MAX_CANDIDATES = 20, 30, 5


class LinkSuggestionView(BaseModel):
    """For an admin: leads as written, with a suggested Teams user and a confidence 0-100."""

    items: list[tuple[str, str | None, int]]
    unmatched: list[str] = []
    ambiguous: list[tuple[str, list[str]]] = []  # a lead and the Teams users who match it equally
    counts: dict[str, int] = {}  # a lead's number of actions in the plan


def _lead_line(lead: str, view: LinkSuggestionView) -> str:
    count = view.counts.get(lead)
    return cut(lead, 200) + (f" · {plural(count, 'action')}" if count else "")


def _confirm(lead: str, user: str, title: str = "Confirm") -> dict:
    return execute(title, LINK_VERB, {"lead": lead, "user": user})


def _suggestion(lead: str, user: str, confidence: int, view: LinkSuggestionView) -> dict:
    how = "likely" if confidence >= LIKELY else "possible"
    return {"type": "ColumnSet", "separator": True, "spacing": "Medium", "columns": [
        {"type": "Column", "width": "stretch", "verticalContentAlignment": "Center", "items": [
            text(_lead_line(lead, view), weight="Bolder"),
            text(f"→ {cut(user, 200)} ({how} match)", spacing="None")]},
        {"type": "Column", "width": "auto", "verticalContentAlignment": "Center", "items": [
            {"type": "ActionSet", "actions": [_confirm(lead, user)]}]}]}


def _ambiguous(lead: str, users: list[str], view: LinkSuggestionView) -> dict:
    shown = users[:MAX_CANDIDATES]
    items = [text(_lead_line(lead, view), weight="Bolder"),
             {"type": "ActionSet", "spacing": "Small", "actions": [
                 _confirm(lead, user, f"Confirm {cut(user, 40)}") for user in shown]}]
    if len(users) > len(shown):
        items.append(text(f"and {len(users) - len(shown)} more: link the right one by hand.",
                          isSubtle=True, spacing="Small"))
    return {"type": "Container", "spacing": "Medium", "items": items}


def link_suggestions_card(view: LinkSuggestionView) -> dict:
    """Build the admin's card of suggested lead-to-Teams-user links, each with a Confirm."""
    body = [heading("Link leads to Teams users"),
            text("Leads are written in the plan as names or roles. Confirm the right Teams "
                 "user for each, so check-ins reach the right person.", isSubtle=True,
                 spacing="Small")]
    suggested = [item for item in view.items if item[1] is not None]
    unmatched = [lead for lead, user, _ in view.items if user is None] + list(view.unmatched)
    if not suggested and not unmatched and not view.ambiguous:
        body.append(text("Every lead is linked to a Teams user."))
        return card(body)
    body += [_suggestion(lead, user, confidence, view)
             for lead, user, confidence in suggested[:MAX_SUGGESTIONS]]
    if len(suggested) > MAX_SUGGESTIONS:
        body.append(text(f"and {len(suggested) - MAX_SUGGESTIONS} more suggestions: confirm "
                         "these and ask again.", isSubtle=True))
    if view.ambiguous:
        body.append(text("Several Teams users match: which one is it?", weight="Bolder",
                         separator=True, spacing="ExtraLarge"))
        body += [_ambiguous(lead, users, view) for lead, users in view.ambiguous[:MAX_SUGGESTIONS]]
        if len(view.ambiguous) > MAX_SUGGESTIONS:
            body.append(text(f"and {len(view.ambiguous) - MAX_SUGGESTIONS} more", isSubtle=True))
    if unmatched:
        body.append(text(f"No Teams user found for {plural(len(unmatched), 'lead')}",
                         weight="Bolder", separator=True, spacing="ExtraLarge"))
        body += [text(f"• {_lead_line(lead, view)}", spacing="None")
                 for lead in unmatched[:MAX_UNMATCHED]]
        if len(unmatched) > MAX_UNMATCHED:
            body.append(text(f"and {len(unmatched) - MAX_UNMATCHED} more", isSubtle=True,
                             spacing="None"))
        body += [text("To link one by hand, send me the lead as written and the person's name "
                      "as Teams shows it:", isSubtle=True, spacing="Medium"),
                 command(f"link {cut(unmatched[0], 100)} to NAME IN TEAMS")]
    return card(body)
