"""Text and card-verb routing: one table each, no if/elif chains."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from dialogs.context import Deps, Reply, Turn
from storage.rules import without_control

Handler = Callable[[Turn, Deps], Awaitable[Reply]]
T = TypeVar("T")


class Router:
    """Maps message text (by pattern) and card verbs (by name) to dialog handlers."""

    def __init__(self, fallback: Handler | None = None) -> None:
        self._intents: list[tuple[re.Pattern[str], Handler]] = []
        self._verbs: dict[str, Handler] = {}
        self._fallback = fallback

    def intent(self, pattern: str) -> Callable[[Handler], Handler]:
        """Register a handler for messages matching `pattern` (case-insensitive, whole text)."""
        compiled = re.compile(pattern, re.IGNORECASE)

        def register(handler: Handler) -> Handler:
            self._intents.append((compiled, handler))
            return handler

        return register

    def verb(self, name: str) -> Callable[[Handler], Handler]:
        """Register a handler for an Adaptive Card action verb."""

        def register(handler: Handler) -> Handler:
            self._verbs[name] = handler
            return handler

        return register

    def include(self, other: Router) -> None:
        """Take over another router's intents and verbs (one router per dialog module)."""
        self._intents.extend(other._intents)
        self._verbs.update(other._verbs)

    def matching(self, text: str) -> Handler | None:
        """The intent handler that answers this text; None when the fallback answers it."""
        cleaned = normalise(text)
        return next((handler for pattern, handler in self._intents
                     if pattern.fullmatch(cleaned)), None)

    async def route_text(self, turn: Turn, deps: Deps) -> Reply:
        """Answer a message."""
        turn = replace(turn, text=printable(turn.text or ""))
        handler = self.matching(turn.text)
        if handler is not None:
            return await handler(turn, deps)
        if self._fallback is None:
            raise LookupError("no intent matched and the router has no fallback")
        return await self._fallback(turn, deps)

    def has_verb(self, name: str) -> bool:
        """True when a card verb is known."""
        return name in self._verbs

    async def route_verb(self, name: str, turn: Turn, deps: Deps) -> Reply:
        """Answer a card action; KeyError for an unknown verb."""
        value = printable(turn.value) if turn.value is not None else None
        return await self._verbs[name](replace(turn, text=printable(turn.text), value=value), deps)


def printable(value: T) -> T:
    """Text (or the strings inside card data) without control characters."""
    if isinstance(value, str):
        return without_control(value)  # before any dialog runs (PostgreSQL refuses NUL)
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [printable(item) for item in value]
    return value


def normalise(text: str) -> str:
    """Message text without surrounding space, trailing punctuation or curly quotes."""
    text = printable(text or "").replace("\u2019", "'").replace("\xa0", " ")
    return re.sub(r"\s+", " ", text).strip().rstrip("?!. ").strip()
