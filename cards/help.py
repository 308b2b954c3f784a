"""The help card: what planbot can do, with example questions as buttons."""

from __future__ import annotations

from pydantic import BaseModel

from cards.common import ask_button, card, heading, text


class PlanLine(BaseModel):
    """One loaded plan as shown on the help card."""

    name: str
    organisation: str | None = None
    actions: int


class HelpView(BaseModel):
    """What the help card shows."""

    plans: list[PlanLine] = []
    is_channel: bool = False


EXAMPLES = [
    ("What's red?", "what's red in Quality of Practice?"),
    ("Overdue", "what's overdue?"),
    ("Changes", "what changed this week?"),
    ("One action", "show 2.4"),
    ("By lead", "Karen Dolton's actions"),
]


def help_card(view: HelpView) -> dict:
    """Build the help card."""
    body = [
        heading("planbot: your improvement plan in Teams"),
        text("I keep the council's improvement plan: themes, recommendations and numbered "
             "actions with their leads, due dates and RAG ratings (Red, Amber, Green, and Blue "
             "for achieved and evidenced).", isSubtle=True),
        text("What I can do", weight="Bolder", spacing="Medium"),
        {"type": "FactSet", "facts": [
            {"title": "Leads", "value": "A weekly check-in card for your actions: RAG, "
                                        "progress, evidence."},
            {"title": "Managers", "value": "Ask in plain English, here or by @mentioning me "
                                           "in a channel."},
            {"title": "Boards", "value": "A weekly digest in your channel and board reports."},
            {"title": "Admins", "value": "Import plans (CSV, Excel, Word) and link leads to "
                                         "Teams users."},
        ]},
        text("Try asking", weight="Bolder", spacing="Medium"),
    ]
    body += [text(f"• {question}") for _, question in EXAMPLES]
    if view.is_channel:
        body.append(text("In a channel, @mention me first: @planbot what's overdue?",
                         isSubtle=True))
    body.append(text("Plans loaded", weight="Bolder", spacing="Medium"))
    if view.plans:
        body.append({"type": "FactSet", "facts": [
            {"title": plan.name, "value": f"{plan.actions} actions"
             + (f" ({plan.organisation})" if plan.organisation else "")}
            for plan in view.plans[:10]
        ]})
    else:
        body.append(text("No plan is loaded yet. An admin can import one with "
                         "`planbot import FILE`.", isSubtle=True))
    actions = [ask_button(title, question) for title, question in EXAMPLES[:4]]
    return card(body, actions)
