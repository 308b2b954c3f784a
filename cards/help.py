"""The help card: what planbot can do, with example questions as buttons."""

from __future__ import annotations

from pydantic import BaseModel

from cards.common import ask_button, card, cut, heading, text

MAX_PLANS = 10


class PlanLine(BaseModel):
    """One loaded plan as shown on the help card."""

    name: str
    organisation: str | None = None
    actions: int


class HelpView(BaseModel):
    """What the help card shows."""

    plans: list[PlanLine] = []
    is_channel: bool = False
    example_ref: str | None = "2.4"  # an action ref from a loaded plan, for the examples


def examples(ref: str | None = None) -> list[tuple[str, str]]:
    """(button title, question) for each example; `ref` is the action in "show REF"."""
    return [
        ("What's red?", "what's red in Quality of Practice?"),
        ("Overdue", "what's overdue?"),
        ("Changes", "what changed this week?"),
        (f"Show {ref or '2.4'}", f"show {ref or '2.4'}"),
        ("By lead", "Karen Dolton's actions"),
    ]


EXAMPLES = examples()


def commands(ref: str | None = None) -> list[tuple[str, str]]:
    """(what it does, an example) for everything planbot does in chat besides questions: each
    example is a message planbot's router answers (tests/test_answers_trust.py checks it)."""
    ref = ref or "2.4"
    return [
        ("Update an action", f"update {ref} amber: audit booked; corrective: weekly case "
                             "audits; review: 12 December"),
        ("Summary", "summary"),
        ("Who hasn't updated", "who hasn't updated?"),
        ("Away or on leave", "snooze until 1 December"),
        ("Back from leave", "back"),
        ("Someone covers for you", "delegate to Sam Jones"),
        ("Export", "export the plan to Excel"),
        ("Board report", "board report"),
        ("Weekly digest (in a channel)", "subscribe this channel to the digest"),
        ("Stop the digest", "unsubscribe"),
        ("Plans loaded", "plans"),
    ]


def admin_commands() -> list[tuple[str, str]]:
    """(what it does, an example) for what only a planbot admin can do in chat."""
    return [
        ("Link a lead to a person", "link SH to Sarah Holt"),
        ("Undo a link", "unlink SH"),
        ("Leads not linked yet", "who is unlinked"),
        ("Own a plan", "make me plan owner"),
    ]


def _command_lines(rows: list[tuple[str, str]]) -> list[dict]:
    return [text(f"• {what}: “{example}”", spacing="None" if n else "Small")
            for n, (what, example) in enumerate(rows)]


def _plan_line(plan: PlanLine) -> str:
    """"• Name — 93 actions", with the organisation only when the name does not already say
    where the plan is from."""
    line = f"• {cut(plan.name, 150)} — {plan.actions} action{'s' if plan.actions != 1 else ''}"
    org = (plan.organisation or "").strip()
    place = org.split()[0].casefold() if org else ""
    if org and place not in plan.name.casefold():
        line += f" ({cut(org, 80)})"
    return line


def help_card(view: HelpView) -> dict:
    """Build the help card."""
    asks = examples(view.example_ref)
    body = [
        heading("planbot: your improvement plan in Teams"),
        text("I keep the council's improvement plan: themes, recommendations and numbered "
             "actions with their leads, due dates and RAG ratings (Red, Amber, Green, and Blue "
             "for achieved and evidenced).", isSubtle=True, spacing="Small"),
        text("What I can do", weight="Bolder", spacing="Medium"),
        {"type": "FactSet", "spacing": "Small", "facts": [
            {"title": "Leads", "value": "A weekly check-in card for your actions: RAG, "
                                        "progress, evidence."},
            {"title": "Managers", "value": "Ask in plain English, here or by @mentioning me "
                                           "in a channel."},
            {"title": "Boards", "value": "A weekly digest in your channel and board reports."},
            {"title": "Admins", "value": "Import plans (CSV, Excel, Word) and link leads to "
                                         "Teams users."},
        ]},
        text("Try asking (or press a button below)", weight="Bolder", spacing="Medium"),
    ]
    body += [text(f"• “{question}”", spacing="None" if n else "Small")
             for n, (_, question) in enumerate(asks)]
    if view.is_channel:
        body.append(text("In a channel, @mention me first: “@planbot what's overdue?”",
                         isSubtle=True, spacing="Small"))
    body += [text("Tell me", weight="Bolder", spacing="Medium"),
             *_command_lines(commands(view.example_ref)),
             text("Admins only", weight="Bolder", spacing="Small"),
             *_command_lines(admin_commands())]
    body.append(text("Plans loaded", weight="Bolder", spacing="Medium"))
    if view.plans:
        body += [text(_plan_line(plan), spacing="None" if n else "Small")
                 for n, plan in enumerate(view.plans[:MAX_PLANS])]
        if len(view.plans) > MAX_PLANS:
            body.append(text(f"and {len(view.plans) - MAX_PLANS} more: ask “plans” for all.",
                             isSubtle=True, spacing="None"))
    else:
        body.append(text("No plan is loaded yet. An admin can import one with "
                         "“planbot import FILE”.", isSubtle=True, spacing="Small"))
    actions = [ask_button(title, question) for title, question in asks]
    return card(body, actions)
