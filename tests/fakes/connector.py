"""A fake Bot Connector on 127.0.0.1 that records every activity the bot sends.

Fault injection for the outbox sender: scripted answers (`fail_next`, `drop_next`,
`lose_answer_next`), a seeded share of random 500s, and `enforce_limits` (429 + Retry-After past
Teams' rate limits). With `graph` (bench.fake_graph.FakeGraph) every accepted message is also
listed by a fake Microsoft Graph on the same server, for the sender's read-back.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.fake_graph import FakeGraph

# Teams' limits per bot per conversation (seconds, sends), and per app across conversations.
TEAMS_CONVERSATION_LIMITS: tuple[tuple[float, int], ...] = (
    (1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
TEAMS_APP_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 50),)
DROP = 0  # a scripted "status" meaning: close the connection without answering
LOSE = -1  # a scripted "status" meaning: accept the message, then close without answering


@dataclass
class Sent:
    """One request the bot made to the connector (status is what the fake answered)."""

    method: str
    path: str
    conversation_id: str
    body: dict
    authorization: str | None
    status: int = 200
    at: float = 0.0
    activity_id: str | None = None


@dataclass
class Fault:
    """A scripted answer for the next `times` matching requests."""

    status: int
    retry_after: str | None = None
    times: int = 1
    conversation_id: str | None = None


def _over_limit(stamps: list[float], now: float,
                limits: tuple[tuple[float, int], ...]) -> float | None:
    """Seconds until one more send fits all windows, or None when it fits now."""
    wait = 0.0
    for window, allowed in limits:
        first = bisect.bisect_right(stamps, now - window)
        inside = len(stamps) - first
        if inside >= allowed:
            wait = max(wait, stamps[first + inside - allowed] + window - now)
    return wait if wait > 0 else None


@dataclass
class FakeConnector:
    """Serves the Bot Connector routes the bot uses and records what arrives."""

    sent: list[Sent] = field(default_factory=list)  # accepted (2xx) requests only
    requests: list[Sent] = field(default_factory=list)  # every request, with its answer
    roster: list[dict] = field(default_factory=list)  # team members for pagedmembers
    enforce_limits: bool = False
    clock: Callable[[], float] = time.monotonic
    error_rate: float = 0.0
    seed: int = 0
    graph: FakeGraph | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _script: list[Fault] = field(default_factory=list)
    _stamps: dict[str, list[float]] = field(default_factory=dict)
    _app_stamps: list[float] = field(default_factory=list)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._members)
        if self.graph is not None:
            self.graph.add_routes(app)
        return app

    def fail_next(self, status: int, retry_after: float | str | None = None, times: int = 1,
                  conversation_id: str | None = None) -> None:
        """Answer the next `times` requests (to one conversation, or any) with `status`."""
        header = None if retry_after is None else str(retry_after)
        self._script.append(Fault(status, header, times, conversation_id))

    def drop_next(self, times: int = 1, conversation_id: str | None = None) -> None:
        """Close the connection of the next `times` requests without answering."""
        self._script.append(Fault(DROP, None, times, conversation_id))

    def lose_answer_next(self, times: int = 1, conversation_id: str | None = None) -> None:
        """Accept the next `times` messages, then close their connections unanswered (the bot
        cannot know they arrived)."""
        self._script.append(Fault(LOSE, None, times, conversation_id))

    def random_errors(self, share: float, seed: int = 0) -> None:
        """Answer a share (0..1) of requests with 500, reproducibly for a seed."""
        self.error_rate, self.seed = share, seed
        self._rng = random.Random(seed)

    def _scripted(self, conversation_id: str) -> Fault | None:
        for fault in self._script:
            if fault.conversation_id in (None, conversation_id):
                fault.times -= 1
                if fault.times <= 0:
                    self._script.remove(fault)
                return fault
        return None

    def _throttled(self, conversation_id: str, now: float) -> float | None:
        if not self.enforce_limits:
            return None
        stamps = self._stamps.setdefault(conversation_id, [])
        waits = [_over_limit(stamps, now, TEAMS_CONVERSATION_LIMITS),
                 _over_limit(self._app_stamps, now, TEAMS_APP_LIMITS)]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is None:
            stamps.append(now)
            self._app_stamps.append(now)
        return wait

    async def _send(self, request: web.Request) -> web.StreamResponse:
        cid, now = request.match_info["cid"], self.clock()
        body = await request.json()
        item = Sent(request.method, request.path, cid, body,
                    request.headers.get("Authorization"), at=now)
        self.requests.append(item)
        fault = self._scripted(cid)
        if fault is not None and fault.status == LOSE:
            self._accept(item, cid, body)
            request.transport.close()
            await asyncio.sleep(0)
            return web.Response(status=500)  # never reaches the client
        if fault is not None and fault.status == DROP:
            item.status = DROP
            request.transport.close()
            await asyncio.sleep(0)
            return web.Response(status=500)  # never reaches the client
        if fault is not None:
            return self._error(item, fault.status, fault.retry_after)
        if self.error_rate and self._rng.random() < self.error_rate:
            return self._error(item, 500, None)
        wait = self._throttled(cid, now)
        if wait is not None:
            return self._error(item, 429, str(max(1, math.ceil(wait))))
        self._accept(item, cid, body)
        return web.json_response({"id": item.activity_id})

    def _accept(self, item: Sent, cid: str, body: dict) -> None:
        item.activity_id = f"sent-{next(self._ids)}"
        self.sent.append(item)
        if self.graph is not None and item.method == "POST":
            self.graph.record(body, cid, item.activity_id)

    @staticmethod
    def _error(item: Sent, status: int, retry_after: str | None) -> web.Response:
        item.status = status
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        return web.json_response({"error": {"code": f"Fake{status}",
                                            "message": f"fake connector answered {status}"}},
                                 status=status, headers=headers)

    async def _members(self, request: web.Request) -> web.Response:
        """TeamsInfo.get_paged_members: the team roster set in `roster`, two per page."""
        start = int(request.query.get("continuationToken") or 0)
        page = self.roster[start:start + 2]
        more = start + 2 < len(self.roster)
        return web.json_response({"members": page,
                                  "continuationToken": str(start + 2) if more else None})

    def statuses(self) -> list[int]:
        """What the fake answered to each request, in order (0 = dropped)."""
        return [item.status for item in self.requests]

    def messages(self) -> list[dict]:
        """The bodies of every message the bot sent, in order."""
        return [item.body for item in self.sent if item.body.get("type") == "message"]

    def cards(self) -> list[dict]:
        """Every Adaptive Card the bot sent."""
        return [attachment["content"] for body in self.messages()
                for attachment in body.get("attachments") or []
                if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive"]


async def start_connector(**options) -> tuple[FakeConnector, TestServer]:
    """Start a fake connector on a free loopback port (options go to FakeConnector)."""
    connector = FakeConnector(**options)
    server = TestServer(connector.app(), host="127.0.0.1")
    await server.start_server()
    return connector, server
