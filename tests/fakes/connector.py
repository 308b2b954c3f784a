"""A fake Bot Connector on 127.0.0.1 that records every activity the bot sends."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Sent:
    """One request the bot made to the connector."""

    method: str
    path: str
    conversation_id: str
    body: dict
    authorization: str | None


@dataclass
class FakeConnector:
    """Serves the Bot Connector routes the bot uses and records what arrives."""

    sent: list[Sent] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._send)
        return app

    async def _send(self, request: web.Request) -> web.Response:
        self.sent.append(Sent(request.method, request.path, request.match_info["cid"],
                              await request.json(), request.headers.get("Authorization")))
        return web.json_response({"id": f"sent-{next(self._ids)}"})

    def messages(self) -> list[dict]:
        """The bodies of every message the bot sent, in order."""
        return [item.body for item in self.sent if item.body.get("type") == "message"]

    def cards(self) -> list[dict]:
        """Every Adaptive Card the bot sent."""
        return [attachment["content"] for body in self.messages()
                for attachment in body.get("attachments") or []
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"]


async def start_connector() -> tuple[FakeConnector, TestServer]:
    """Start a fake connector on a free loopback port."""
    connector = FakeConnector()
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    return connector, server
