"""The Bot Framework adapter (CloudAdapter) and its turn-error handler."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable

import aiohttp
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botframework.connector.auth import ClaimsIdentity
from botframework.connector.auth.jwt_token_extractor import (
    JwtTokenExtractor,
    _OpenIdConfig,
    _OpenIdMetadata,
)
from botframework.connector.auth.user_token_client import UserTokenClient
from jwt.algorithms import RSAAlgorithm

from bot.config import Settings

log = logging.getLogger(__name__)
KEYS_MAX_AGE = 24 * 3600.0  # seconds: botbuilder's own refresh period
UNKNOWN_KEY_REFRESH = 3600.0  # an unknown key id fetches the keys again at most this often


class SigningKeysUnavailable(Exception):
    """The Bot Framework's signing keys could not be fetched, so no token can be checked now."""


class _KeepKeys(Exception):
    """Inside SigningKeys: a refresh failed recently, so the keys held are used as they are."""


class SigningKeys(_OpenIdMetadata):
    """botframework-connector's signing-key cache (OpenID configuration, then its JWKS),
    fetched without blocking the event loop.

    botbuilder 4.17 fetches them with a synchronous `requests.get` and no timeout inside the
    event loop, again on every request while the endpoint fails: one token with an unknown
    key id then freezes every request, /healthz too. Here: aiohttp with one deadline for both
    fetches; one fetch at a time (the others wait for its result); a failure is remembered for
    `retry_after` seconds (requests fail fast meanwhile); keys already held are kept when a
    refresh fails. The timeouts are process-wide, as botbuilder's cache of these objects is.
    """

    timeout = 5.0
    retry_after = 30.0

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.fetched_at: float | None = None  # time.monotonic() of the last good fetch
        self.failed_at: float | None = None
        self.failure = ""
        self._locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def get(self, key_id: str):
        """The key with this id (public key and endorsements); PermissionError for an id the
        Bot Framework does not publish, SigningKeysUnavailable when none could be fetched."""
        now = time.monotonic()
        if self.fetched_at is None or now - self.fetched_at > KEYS_MAX_AGE:
            await self._refreshed()
        key = self._key(key_id)
        if key is None and self.fetched_at is not None and (
                time.monotonic() - self.fetched_at > UNKNOWN_KEY_REFRESH):
            await self._refreshed()
            key = self._key(key_id)
        if key is None:
            raise PermissionError("the token is signed with a key the Bot Framework does not "
                                  "publish")
        return key

    async def _refreshed(self) -> None:
        try:
            await self._refresh()
        except _KeepKeys:
            pass

    def _key(self, key_id: str) -> _OpenIdConfig | None:
        found = next((key for key in self.keys if key.get("kid") == key_id), None)
        if found is None:
            return None
        return _OpenIdConfig(RSAAlgorithm.from_jwk(json.dumps(found)),
                             found.get("endorsements", []))

    async def _refresh(self) -> None:
        """Fetch the keys once for every request that is waiting. After a failure, no fetch
        for `retry_after` seconds: keys already held are used meanwhile, else every request
        gets SigningKeysUnavailable at once."""
        started = self.fetched_at
        self._unless_failed_recently()
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if self.fetched_at != started:
                return  # fetched while this request waited
            self._unless_failed_recently()
            try:
                async with asyncio.timeout(self.timeout):
                    keys = await self._download()
            except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
                self.failed_at = time.monotonic()
                self.failure = (f"no answer within {self.timeout:g} s"
                                if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: "
                                f"{str(exc)[:200]}")
                log.warning("could not fetch the Bot Framework signing keys from %s (%s); "
                            "not trying again for %g s%s", self.url, self.failure,
                            self.retry_after, "; the keys fetched before are used meanwhile"
                            if self.keys else "")
                if not self.keys:
                    raise SigningKeysUnavailable(self._unavailable()) from exc
                return
            self.keys, self.fetched_at, self.failed_at = keys, time.monotonic(), None

    def _unless_failed_recently(self) -> None:
        """After a recent failure: SigningKeysUnavailable without keys, else return quietly
        from the refresh (the caller goes on with the keys it has)."""
        if self.failed_at is None or time.monotonic() - self.failed_at >= self.retry_after:
            return
        if not self.keys:
            raise SigningKeysUnavailable(self._unavailable())
        raise _KeepKeys

    def _unavailable(self) -> str:
        return (f"the Bot Framework signing keys could not be fetched from {self.url} "
                f"({self.failure})")

    async def _download(self) -> list[dict]:
        """The OpenID configuration's JSON Web Key Set: a list of keys with a `kid` each."""
        async with aiohttp.ClientSession(trust_env=True) as http:
            async with http.get(self.url) as response:
                response.raise_for_status()
                keys_url = (await response.json(content_type=None))["jwks_uri"]
            async with http.get(keys_url) as response:
                response.raise_for_status()
                keys = (await response.json(content_type=None))["keys"]
        if not isinstance(keys, list) or not all(isinstance(key, dict) for key in keys):
            raise ValueError("the key set is not a list of keys")
        return keys


def _signing_keys_for(url: str) -> SigningKeys:
    found = JwtTokenExtractor.metadataCache.get(url)
    if not isinstance(found, SigningKeys):
        found = JwtTokenExtractor.metadataCache[url] = SigningKeys(url)
    return found


def use_signing_keys(*, timeout: float, retry_after: float) -> None:
    """Make botframework-connector's token validation use SigningKeys (for every metadata URL:
    Bot Framework channels, the emulator, skills, government clouds)."""
    SigningKeys.timeout, SigningKeys.retry_after = timeout, retry_after
    JwtTokenExtractor.get_open_id_metadata = staticmethod(_signing_keys_for)


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
    use_signing_keys(timeout=settings.signing_keys_timeout,
                     retry_after=settings.signing_keys_retry)
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
