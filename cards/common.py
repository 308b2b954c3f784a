"""Small building blocks shared by the card builders (pure, no I/O)."""

from __future__ import annotations

import re

CARD_VERSION = "1.5"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

RAG_COLOURS = {"red": "Attention", "amber": "Warning", "green": "Good", "blue": "Accent"}
# RAG as a word with a coloured circle: readable on light and dark themes (Teams' Warning and Good
# text colours are too pale on white, about 1.5:1), and not told by colour alone.
RAG_EMOJI = {"red": "🔴", "amber": "🟠", "green": "🟢", "blue": "🔵"}
NBSP = "\u00a0"
_LINKING_WORDS = frozenset("a an and at by for from in of on or the to with".split())


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


def heading(value: str, size: str = "Large") -> dict:
    """A card title."""
    return text(value, size=size, weight="Bolder", style="heading")


def command(value: str, **style) -> dict:
    """A command to type, on its own line in a fixed-width font (cards have no inline code)."""
    return text(value, fontType="Monospace", spacing="Small", **style)


def rag_word(rag: str | None) -> str | None:
    """'🔴 Red' for 'red' (any case); None when there is no rating or it is not a RAG."""
    key = (rag or "").strip().lower()
    return f"{RAG_EMOJI[key]} {key.title()}" if key in RAG_EMOJI else None


def keep_together(value: str) -> str:
    """`value` with no-break spaces, so a date or a name is not split across lines."""
    return value.replace(" ", NBSP)


def cut(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, ending in "…" when cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def cut_words(value: str, limit: int) -> str:
    """`value` on one line (whitespace collapsed), cut at a word boundary to at most `limit`
    characters, ending in "…" when cut."""
    flat = " ".join(value.split())
    if len(flat) <= limit:
        return flat
    head = flat[: limit - 1]
    if " " in head[limit // 2:]:  # a word boundary in the second half: cut there
        head = head[: head.rindex(" ")]
        words = head.split(" ")
        while len(words) > 2 and words[-1].lower() in _LINKING_WORDS:  # not "…recruited for a…"
            words.pop()
        head = " ".join(words)
    return re.sub(r"[\s,;:.\-–—(]+$", "", head) + "…"


def ask_button(title: str, question: str) -> dict:
    """A button that sends `question` to the bot as if the user had typed it (Teams imBack)."""
    return {"type": "Action.Submit", "title": title,
            "data": {"msteams": {"type": "imBack", "value": question}}}


def message_card(message: str) -> dict:
    """A one-message card, for answers that must be a card (an Action.Execute response)."""
    return card([text(message)])


def plural(count: int, word: str) -> str:
    """"1 action", "3 actions"."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def and_list(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def execute(title: str, verb: str, data: dict, **extra) -> dict:
    """An Action.Execute with an Action.Submit fallback (verb inside data) for older clients."""
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": data, **extra,
            "fallback": {"type": "Action.Submit", "title": title, "data": {"verb": verb, **data}}}
