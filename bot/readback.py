"""Read-back: before sending again a row whose last send may have arrived, look for it in the chat.

The Bot Connector's send (POST /v3/conversations/{id}/activities) takes no idempotency key and
offers no way to read a conversation back. So when a send's outcome is unknown (the process was
killed before it recorded Teams' answer, the connection dropped, a 5xx came back after Teams may
have accepted the message), sending again can show the lead the same card twice. With
PLANBOT_GRAPH_READBACK=true the sender first asks Microsoft Graph for the chat's recent messages
and looks for the row's marker (storage.outbox.marker, an invisible element of the card): found,
the row is recorded as sent with that message's id and nothing is sent; not found, it is sent.

Graph calls (application permissions, admin consent; see the README):
  personal chats  GET /users/{aad id}/teamwork/installedApps?$expand=teamsApp   (find this app)
                  GET /users/{aad id}/teamwork/installedApps/{installation}/chat (the chat id)
                  TeamsAppInstallation.ReadForUser.All
  messages        GET /chats/{chat id}/messages?$top=50&$orderby=lastModifiedDateTime desc
                      &$filter=lastModifiedDateTime gt {posted_at - skew}        Chat.Read.All
  channel posts   GET /teams/{group id}/channels/{channel id}/messages?$top=50
                                                                      ChannelMessage.Read.All
Group chats use their conversation id as the chat id. A channel needs its team's Microsoft 365
group id, which Teams sends when the app is installed in the team (ConversationRef.aad_group_id);
without it the post is sent again, as without read-back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from bot.config import Settings
from storage.models import ConversationRef, Outbox
from storage.outbox import marker

log = logging.getLogger(__name__)
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True)
class Readback:
    """What a read-back found: the message (found, with its id), none (found False), or it could
    not tell (found None) with the reason, and whether asking again could help (final)."""

    found: bool | None
    message_id: str | None = None
    error: str | None = None
    final: bool = False


class GraphError(Exception):
    """A Graph or token request that failed; final when asking again will not help."""

    def __init__(self, message: str, *, final: bool) -> None:
        super().__init__(message)
        self.final = final


def _final(status: int) -> bool:
    return 400 <= status < 500 and status not in (408, 409, 412, 429)


class GraphReadback:
    """Finds an outbox row's message in its chat through Microsoft Graph (see the module doc)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = lambda: datetime.now(
            UTC), skew: timedelta = timedelta(minutes=5), settle: timedelta = timedelta(
            seconds=10), max_pages: int = 10, timeout: float = 30.0, cache: int = 20000) -> None:
        self._graph = settings.graph_url.rstrip("/")
        self._token_url = settings.graph_token_url
        self._client_id, self._secret = settings.app_id, settings.app_password
        self._app_tenant = settings.app_tenant_id
        self._teams_app_id = (settings.teams_app_id or settings.app_id).lower()
        self._clock, self._skew, self._pages = clock, skew, max_pages
        self.settle = settle  # Graph may list a message a few seconds after Teams accepted it
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self._tokens: dict[str, tuple[str, float]] = {}  # tenant -> (token, expires monotonic)
        self._token_locks: dict[str, asyncio.Lock] = {}
        self._chats: OrderedDict[str, str] = OrderedDict()  # AAD object id -> chat id
        self._cache = cache

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self._http

    async def find(self, row: Outbox, reference: ConversationRef) -> Readback:
        """Look for the row's message in its conversation; never raises."""
        try:
            stored = json.loads(reference.reference_json)
            conversation = stored.get("conversation") or {}
            kind = reference.kind or conversation.get("conversationType") or "personal"
            tenant = (conversation.get("tenantId") or reference.tenant_id or self._app_tenant
                      or "organizations")
            since = (row.posted_at or self._clock()) - self._skew
            mark = marker(row.idempotency_key)
            if kind == "personal":
                aad = (stored.get("user") or {}).get("aadObjectId")
                if not aad:
                    return Readback(None, error="the conversation reference has no AAD object "
                                    "id for the user", final=True)
                url = self._chat_messages(await self._personal_chat(aad, tenant), since)
            elif kind == "groupChat":
                url = self._chat_messages(conversation["id"], since)
            elif kind == "channel":
                if not reference.aad_group_id:
                    return Readback(None, error="the team's Microsoft 365 group id is not known "
                                    "(Teams sends it when the app is installed in the team)",
                                    final=True)
                url = (f"{self._graph}/teams/{quote(reference.aad_group_id, safe='')}/channels/"
                       f"{quote(reference.conversation_id, safe='')}/messages?"
                       + _query({"$top": "50"}))
            else:
                return Readback(None, error=f"{kind} conversations are not read back",
                                final=True)
            found = await self._search(url, tenant, mark, since)
        except GraphError as exc:
            return Readback(None, error=str(exc), final=exc.final)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Readback(None, error=f"Graph unreachable ({type(exc).__name__}: {exc})")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return Readback(None, error=f"unexpected answer ({type(exc).__name__}: {exc})",
                            final=True)
        return Readback(True, message_id=found) if found else Readback(False)

    def _chat_messages(self, chat_id: str, since: datetime) -> str:
        """A chat's messages modified after `since`, newest first."""
        return f"{self._graph}/chats/{quote(chat_id, safe='')}/messages?" + _query(_since(since))

    async def _search(self, url: str | None, tenant: str, mark: str,
                      since: datetime) -> str | None:
        """The id of the listed message carrying `mark`, or None once the listing ends or a
        whole page is older than `since` (channel listings take no date filter)."""
        for _ in range(self._pages):
            page = await self._get(url, tenant)
            messages = page.get("value") or []
            for message in messages:
                if _carries(message, mark):
                    return str(message["id"])
            url = page.get("@odata.nextLink")
            stamps = [_parse_when(message.get("lastModifiedDateTime")) for message in messages]
            if not url or (stamps and all(when is not None and when <= since
                                          for when in stamps)):
                return None
        raise GraphError(f"more than {self._pages * 50} messages since {_stamp(since)}: gave "
                         "up", final=True)

    async def _personal_chat(self, aad: str, tenant: str) -> str:
        """The Graph id of this app's 1:1 chat with a user (cached)."""
        if aad in self._chats:
            self._chats.move_to_end(aad)
            return self._chats[aad]
        user = quote(aad, safe="")
        url: str | None = (f"{self._graph}/users/{user}/teamwork/installedApps?"
                           + _query({"$expand": "teamsApp"}))
        installation = None
        while url and installation is None:
            page = await self._get(url, tenant)
            installation = next(
                (item["id"] for item in page.get("value") or []
                 if str((item.get("teamsApp") or {}).get("externalId", "")).lower()
                 == self._teams_app_id), None)
            url = page.get("@odata.nextLink")
        if installation is None:
            raise GraphError(f"the app {self._teams_app_id} is not installed for user {aad}",
                             final=True)
        chat = await self._get(f"{self._graph}/users/{user}/teamwork/installedApps/"
                               f"{quote(installation, safe='')}/chat", tenant)
        self._chats[aad] = str(chat["id"])
        if len(self._chats) > self._cache:
            self._chats.popitem(last=False)
        return self._chats[aad]

    async def _get(self, url: str, tenant: str) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        token = await self._token(tenant)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self._session().get(url, headers=headers) as response:
            if response.status != 200:
                text = (await response.text())[:300]
                raise GraphError(f"Graph answered {response.status} to GET "
                                 f"{url.split('?')[0]}: {text}", final=_final(response.status))
            return await response.json(content_type=None)

    async def _token(self, tenant: str) -> str | None:
        """An app-only Graph token for the tenant (client credentials; cached until a minute
        before it expires). None without an app id: local mode, where nothing signs in."""
        if not self._client_id:
            return None
        held = self._tokens.get(tenant)
        if held and held[1] > time.monotonic():
            return held[0]
        async with self._token_locks.setdefault(tenant, asyncio.Lock()):
            held = self._tokens.get(tenant)
            if held and held[1] > time.monotonic():
                return held[0]
            form = {"grant_type": "client_credentials", "client_id": self._client_id,
                    "client_secret": self._secret, "scope": GRAPH_SCOPE}
            async with self._session().post(self._token_url.format(tenant=tenant),
                                            data=form) as response:
                body = await response.json(content_type=None)
                if response.status != 200 or "access_token" not in body:
                    reason = body.get("error_description") or body.get("error") or ""
                    raise GraphError(f"no Graph token for tenant {tenant} (HTTP "
                                     f"{response.status}): {str(reason)[:300]}",
                                     final=_final(response.status))
            expires = time.monotonic() + max(0.0, float(body.get("expires_in", 3600)) - 60)
            self._tokens[tenant] = (body["access_token"], expires)
            return body["access_token"]


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _since(since: datetime) -> dict[str, str]:
    """Chat listing options: newest first, only messages modified after `since`."""
    return {"$top": "50", "$orderby": "lastModifiedDateTime desc",
            "$filter": f"lastModifiedDateTime gt {_stamp(since)}"}


def _parse_when(value: object) -> datetime | None:
    """A Graph timestamp ("2026-12-05T09:00:00.1234567Z"), or None."""
    if not isinstance(value, str):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?", value)
    if match is None:
        return None
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{match.group(1)}.{fraction}+00:00")


def _query(options: dict[str, str]) -> str:
    """OData query options as Graph documents them: `$` kept, spaces as %20 (never `+`)."""
    return urlencode(options, quote_via=quote, safe="$:,")


def _carries(message: dict[str, Any], mark: str) -> bool:
    """True when a Graph chatMessage's cards (or body) contain the marker."""
    for attachment in message.get("attachments") or []:
        content = attachment.get("content")
        if isinstance(content, str) and mark in content:
            return True
        if isinstance(content, dict | list) and mark in json.dumps(content):
            return True
    body = message.get("body") or {}
    return isinstance(body.get("content"), str) and mark in body["content"]
