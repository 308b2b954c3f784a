"""What a dialog gets to work with: the turn's facts and the app's dependencies (no botbuilder)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.export.links import DownloadLinks

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, timezone-aware."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Turn:
    """The facts of one incoming message that dialogs need, free of botbuilder types."""

    text: str
    conversation_type: Literal["personal", "channel", "groupChat"] = "personal"
    user_name: str | None = None
    user_aad_id: str | None = None
    user_id: str | None = None  # Teams user id ("29:...")
    conversation_id: str | None = None  # where a proactive message to this chat or channel goes
    value: dict | None = None
    activity_id: str | None = None  # Teams' id of the message: a redelivery carries the same one


@dataclass(frozen=True)
class Deps:
    """Dependencies injected into every dialog."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock = system_clock
    admins: frozenset[str] = frozenset()  # emails or AAD object ids, lower case
    timezone: str = "Europe/London"
    links: DownloadLinks | None = None  # signs download links for exports made in chat
    readers: frozenset[str] | None = None  # PLANBOT_READERS=plan: named readers; None: tenant

    def today(self) -> date:
        """Today in the plan's time zone, from the injected clock."""
        return self.clock().astimezone(ZoneInfo(self.timezone)).date()


@dataclass
class Reply:
    """What the bot answers: text, an Adaptive Card, or both."""

    text: str | None = None
    cards: list[dict] = field(default_factory=list)
    replace: bool = False  # the first card replaces the card that was clicked
