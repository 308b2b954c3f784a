"""A fake of the few Microsoft Graph routes bot.readback calls, fed by a fake Bot Connector.

The connector calls `record` for every message it accepts; the routes then list them the way
Graph lists chat messages (newest first, 50 a page, @odata.nextLink, a lastModifiedDateTime
filter) so the bot can find a card it sent. Shapes follow the Graph v1.0 documentation:
  POST /login/{tenant}/oauth2/v2.0/token                        client credentials -> token
  GET  /graph/v1.0/users/{aad}/teamwork/installedApps?$expand=teamsApp
  GET  /graph/v1.0/users/{aad}/teamwork/installedApps/{installation}/chat
  GET  /graph/v1.0/chats/{chat}/messages?$top=&$orderby=lastModifiedDateTime desc&$filter=
  GET  /graph/v1.0/teams/{group}/channels/{channel}/messages?$top=   (no $filter, no $orderby)
Scripted failures: `fail_next(status, times)` answers the next Graph GETs with that status.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

OTHER_APP = "0d820ecd-def2-4297-adad-78056cde7c78"  # another app every user has installed


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


@dataclass
class FakeGraph:
    """Chats and their messages, as Graph would list them, and what was asked of it."""

    teams_app_id: str
    clock: Callable[[], float] = time.time
    counts: Counter = field(default_factory=Counter)
    tokens_issued: int = 0
    authorizations: list[str | None] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # path and query of each Graph GET, raw
    groups: list[str] = field(default_factory=list)  # group ids channel listings named
    _messages: dict[str, list[dict]] = field(default_factory=dict)  # chat id -> oldest first
    _failures: list[int] = field(default_factory=list)

    @staticmethod
    def personal_chat(aad: str) -> str:
        """The chat id the fake gives a user's 1:1 chat with the app."""
        return f"19:{aad}_bot@unq.gbl.spaces"

    def record(self, body: dict, conversation_id: str, message_id: str) -> None:
        """Keep an accepted activity as a chatMessage of its chat."""
        conversation = body.get("conversation") or {}
        kind = conversation.get("conversationType") or "personal"
        aad = (body.get("recipient") or {}).get("aadObjectId")
        if kind == "personal" and aad:
            chat = self.personal_chat(aad)
        elif kind in ("groupChat", "channel"):
            chat = conversation_id
        else:
            return
        attachments = [{"id": str(number), "contentType": item.get("contentType"),
                        "content": json.dumps(item.get("content"))}
                       for number, item in enumerate(body.get("attachments") or [])]
        now = _stamp(self.clock())
        self._messages.setdefault(chat, []).append({
            "id": message_id, "messageType": "message", "createdDateTime": now,
            "lastModifiedDateTime": now, "chatId": chat,
            "from": {"application": {"id": self.teams_app_id, "displayName": "planbot"}},
            "body": {"contentType": "html", "content": body.get("text") or ""},
            "attachments": attachments})

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` Graph GETs with `status`."""
        self._failures.extend([status] * times)

    def add_routes(self, app: web.Application) -> None:
        """Mount the token and Graph routes on an aiohttp application."""
        app.router.add_post("/login/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/graph/v1.0/users/{aad}/teamwork/installedApps", self._installed)
        app.router.add_get("/graph/v1.0/users/{aad}/teamwork/installedApps/{iid}/chat",
                           self._chat)
        app.router.add_get("/graph/v1.0/chats/{chat}/messages", self._list)
        app.router.add_get("/graph/v1.0/teams/{group}/channels/{chat}/messages",
                           self._list_channel)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or not form.get("client_secret"):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens_issued += 1
        return web.json_response({"token_type": "Bearer", "expires_in": 3599,
                                  "access_token": f"fake-graph-token-{self.tokens_issued}"})

    def _refused(self, request: web.Request) -> web.Response | None:
        self.counts["requests"] += 1
        self.authorizations.append(request.headers.get("Authorization"))
        self.asked.append(request.raw_path)
        if self._failures:
            status = self._failures.pop(0)
            self.counts[str(status)] += 1
            return web.json_response({"error": {"code": "Fake", "message": f"{status}"}},
                                     status=status, headers={"Retry-After": "1"})
        return None

    async def _installed(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        aad = request.match_info["aad"]
        self.counts["installedApps"] += 1
        value = [{"id": base64.b64encode(f"{aad}##{app_id}".encode()).decode(),
                  "teamsApp": {"id": f"catalog-{app_id}", "externalId": app_id,
                               "displayName": name}}
                 for app_id, name in ((OTHER_APP, "Other app"), (self.teams_app_id, "planbot"))]
        return web.json_response({"value": value})

    async def _chat(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        aad, installation = request.match_info["aad"], request.match_info["iid"]
        self.counts["chat"] += 1
        owner, _, app_id = base64.b64decode(installation).decode().partition("##")
        if owner != aad or app_id != self.teams_app_id:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        return web.json_response({"id": self.personal_chat(aad), "chatType": "oneOnOne"})

    async def _list(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        self.counts["messages"] += 1
        query = request.query
        if query.get("$orderby") != "lastModifiedDateTime desc":
            return web.json_response({"error": {"code": "BadRequest"}}, status=400)
        newest_first = list(reversed(self._messages.get(request.match_info["chat"], [])))
        since = query.get("$filter", "").removeprefix("lastModifiedDateTime gt ")
        if since:
            cutoff = _parse(since)
            newest_first = [m for m in newest_first
                            if _parse(m["lastModifiedDateTime"]) > cutoff]
        return self._page(request, newest_first)

    async def _list_channel(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        self.counts["channel messages"] += 1
        if "$filter" in request.query or "$orderby" in request.query:
            return web.json_response({"error": {"code": "BadRequest", "message": "not "
                                                "supported on channel messages"}}, status=400)
        self.groups.append(request.match_info["group"])
        return self._page(request, list(reversed(
            self._messages.get(request.match_info["chat"], []))))

    @staticmethod
    def _page(request: web.Request, newest_first: list[dict]) -> web.Response:
        query = request.query
        top, skip = min(50, int(query.get("$top", "50"))), int(query.get("$skiptoken", "0"))
        page = newest_first[skip:skip + top]
        body: dict = {"value": page}
        if skip + top < len(newest_first):
            following = {**query, "$skiptoken": str(skip + top)}
            body["@odata.nextLink"] = str(request.url.with_query(None)) + "?" + urlencode(
                following)
        return web.json_response(body)
