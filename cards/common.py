"""Small building blocks shared by the card builders (pure, no I/O)."""

from __future__ import annotations

CARD_VERSION = "1.5"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

RAG_COLOURS = {"red": "Attention", "amber": "Warning", "green": "Good", "blue": "Accent"}


def card(body: list[dict], actions: list[dict] | None = None) -> dict:
    """An Adaptive Card 1.5 that uses the full width of a Teams message."""
    result: dict = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        result["actions"] = actions
    return result


def text(value: str, **style) -> dict:
    """A wrapping TextBlock."""
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def heading(value: str) -> dict:
    """A card title."""
    return text(value, size="Large", weight="Bolder", style="heading")


def ask_button(title: str, question: str) -> dict:
    """A button that sends `question` to the bot as if the user had typed it (Teams imBack)."""
    return {"type": "Action.Submit", "title": title,
            "data": {"msteams": {"type": "imBack", "value": question}}}


def message_card(message: str) -> dict:
    """A one-message card, for answers that must be a card (an Action.Execute response)."""
    return card([text(message)])
