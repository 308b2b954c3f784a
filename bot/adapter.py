"""The Bot Framework adapter (CloudAdapter) and its turn-error handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botframework.connector.auth import ClaimsIdentity
from botframework.connector.auth.user_token_client import UserTokenClient

from bot.config import Settings

log = logging.getLogger(__name__)


class LazyUserTokenClient(UserTokenClient):
    """A user token client made on first use.

    CloudAdapter builds one for every incoming activity (credentials, an msrest client and a
    requests Session with its cookie jar: about a tenth of a check-in answer's CPU), and planbot
    never signs users in, so it is usually never used."""

    def __init__(self, make: Callable[[], Awaitable[UserTokenClient]]) -> None:
        self._make = make
        self._client: UserTokenClient | None = None

    async def _real(self) -> UserTokenClient:
        if self._client is None:
            self._client = await self._make()
        return self._client

    async def get_user_token(self, *args, **kwargs):
        return await (await self._real()).get_user_token(*args, **kwargs)

    async def get_sign_in_resource(self, *args, **kwargs):
        return await (await self._real()).get_sign_in_resource(*args, **kwargs)

    async def sign_out_user(self, *args, **kwargs):
        return await (await self._real()).sign_out_user(*args, **kwargs)

    async def get_token_status(self, *args, **kwargs):
        return await (await self._real()).get_token_status(*args, **kwargs)

    async def get_aad_tokens(self, *args, **kwargs):
        return await (await self._real()).get_aad_tokens(*args, **kwargs)

    async def exchange_token(self, *args, **kwargs):
        return await (await self._real()).exchange_token(*args, **kwargs)


class Authentication(ConfigurationBotFrameworkAuthentication):
    """botbuilder's configuration authentication, with the user token client made lazily."""

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        make = super().create_user_token_client
        return LazyUserTokenClient(lambda: make(claims_identity))


def create_adapter(settings: Settings) -> CloudAdapter:
    """A CloudAdapter configured from settings, with a friendly error reply."""
    auth = Authentication(settings.botframework_config())
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
