"""The Bot Framework adapter (CloudAdapter) and its turn-error handler."""

from __future__ import annotations

import logging

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)

from bot.config import Settings

log = logging.getLogger(__name__)


def create_adapter(settings: Settings) -> CloudAdapter:
    """A CloudAdapter configured from settings, with a friendly error reply."""
    auth = ConfigurationBotFrameworkAuthentication(settings.botframework_config())
    adapter = CloudAdapter(auth)

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        log.error("unhandled error in a turn (activity %s, type %s)", context.activity.id,
                  context.activity.type, exc_info=error)
        if context.activity.type == "message":
            try:
                await context.send_activity(
                    "Sorry, something went wrong on my side and I could not answer. "
                    "The error has been logged; please try again in a minute.")
            except Exception:
                log.exception("could not send the error reply")

    adapter.on_turn_error = on_turn_error
    return adapter
