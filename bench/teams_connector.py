"""A fake Bot Connector (its own process, 127.0.0.1) that enforces Teams' limits and injects faults.

Run: .venv/bin/python -m bench.teams_connector --port 0 --faults 0.02 --lost-answers 0 --seed 1
     [--graph TEAMS_APP_ID]
It prints `listening on PORT` once it serves. Routes:
  POST /v3/conversations/{id}/activities[/{activity id}]  a send (what BotDelivery calls)
  GET  /count     accepted sends so far (cheap, for polling)
  GET  /stats     counters, first/last accept (wall clock) and accepts per conversation
  with --graph: bench.fake_graph's token and Graph routes, listing every accepted message

Per request, in this order:
  1. a "not received" drop (share faults/2): the connection is closed before anything is read
     or counted; the bot sees a connection error, and the message was never received;
  2. Teams' limits, sliding windows: per conversation 7/1 s, 8/2 s, 60/30 s, 1800/3600 s, and
     50/1 s across all conversations (one bot, one tenant). Past one: 429 with Retry-After
     (whole seconds, at least 1) and nothing counted;
  3. the request now counts in every window; a share faults/2 is answered 500 (not accepted);
  4. otherwise the message is accepted and recorded; a share --lost-answers of accepted
     messages then has its connection closed instead of answered ("received, answer lost"):
     the bot cannot know it arrived, retries it, and that is a genuine duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from bench.fake_graph import FakeGraph

CONVERSATION_LIMITS: tuple[tuple[float, int], ...] = (
    (1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
TENANT_LIMITS: tuple[tuple[float, int], ...] = ((1.0, 50),)


def over_limit(stamps: list[float], now: float,
               limits: tuple[tuple[float, int], ...]) -> float:
    """Seconds until one more request fits every window (0 when it fits now)."""
    wait = 0.0
    for window, allowed in limits:
        first = bisect.bisect_right(stamps, now - window)
        inside = len(stamps) - first
        if inside >= allowed:
            wait = max(wait, stamps[first + inside - allowed] + window - now)
    return wait


@dataclass
class Connector:
    """State of the fake connector: limits, faults and what was accepted."""

    faults: float = 0.0
    lost_answers: float = 0.0
    seed: int = 0
    counts: Counter = field(default_factory=Counter)
    accepted: Counter = field(default_factory=Counter)  # conversation id -> accepts
    tokens: dict[str, set[str]] = field(default_factory=dict)  # conversation -> card tokens
    graph: FakeGraph | None = None
    first_accept: float | None = None
    last_accept: float | None = None
    peak_tenant_rate: int = 0  # most requests counted in any 1 s window
    times: list[float] = field(default_factory=list)  # wall clock of every counted request
    _stamps: dict[str, list[float]] = field(default_factory=dict)
    _tenant: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v3/conversations/{cid}/activities", self.send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self.send)
        app.router.add_get("/count", self.count)
        app.router.add_get("/stats", self.stats)
        if self.graph is not None:
            self.graph.add_routes(app)
        return app

    def _throttle(self, cid: str, now: float) -> float:
        stamps = self._stamps.setdefault(cid, [])
        wait = max(over_limit(stamps, now, CONVERSATION_LIMITS),
                   over_limit(self._tenant, now, TENANT_LIMITS))
        if wait > 0:
            return wait
        stamps.append(now)
        self._tenant.append(now)
        self.times.append(time.time())
        if len(self._tenant) > 200:
            del self._tenant[:100]
        inside = len(self._tenant) - bisect.bisect_right(self._tenant, now - 1.0)
        self.peak_tenant_rate = max(self.peak_tenant_rate, inside)
        return 0.0

    @staticmethod
    async def _drop(request: web.Request) -> web.StreamResponse:
        request.transport.close()
        await asyncio.sleep(0)
        return web.Response(status=500)  # never reaches the client

    async def send(self, request: web.Request) -> web.StreamResponse:
        """One send: drop, throttle, fail or accept (see the module docstring)."""
        cid = request.match_info["cid"]
        self.counts["requests"] += 1
        roll = self._rng.random()
        if roll < self.faults / 2:
            self.counts["dropped_before"] += 1
            return await self._drop(request)
        body = await request.json()
        now = time.monotonic()
        wait = self._throttle(cid, now)
        if wait > 0:
            self.counts["429"] += 1
            return _error(429, str(max(1, math.ceil(wait))))
        if roll < self.faults:
            self.counts["500"] += 1
            return _error(500, None)
        self.accepted[cid] += 1
        self.counts["accepted"] += 1
        wall = time.time()
        self.first_accept = self.first_accept or wall
        self.last_accept = wall
        self.tokens.setdefault(cid, set()).update(card_tokens(body))
        activity_id = f"act-{self.counts['accepted']}"
        if self.graph is not None:
            self.graph.record(body, cid, activity_id)
        if self.lost_answers and self._rng.random() < self.lost_answers:
            self.counts["answers_lost"] += 1
            return await self._drop(request)
        return web.json_response({"id": activity_id})

    async def count(self, _request: web.Request) -> web.Response:
        """Accepted sends so far."""
        return web.json_response({"accepted": self.counts["accepted"],
                                  "unique": len(self.accepted)})

    async def stats(self, request: web.Request) -> web.Response:
        """Every counter and the accepts per conversation (?times=1: request times too)."""
        extra = {"times": self.times} if request.query.get("times") else {}
        return web.json_response({**extra,
            "counts": dict(self.counts), "accepted": dict(self.accepted),
            "tokens": {cid: sorted(found) for cid, found in self.tokens.items()},
            "first_accept": self.first_accept, "last_accept": self.last_accept,
            "peak_tenant_rate": self.peak_tenant_rate,
            "graph": dict(self.graph.counts) if self.graph is not None else None})


def card_tokens(body: dict) -> list[str]:
    """The check-in tokens an activity's cards carry (they identify the Checkin row)."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            token = node.get("token")
            if isinstance(token, str):
                found.append(token)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body.get("attachments") or [])
    return sorted(set(found))


def _error(status: int, retry_after: str | None) -> web.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return web.json_response({"error": {"code": f"Fake{status}",
                                        "message": f"fake connector answered {status}"}},
                             status=status, headers=headers)


async def serve(connector: Connector, port: int) -> None:
    """Serve until killed; prints the port once listening."""
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    actual = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - port 0 resolved
    print(f"listening on {actual}", flush=True)  # noqa: T201 - the parent reads this line
    await asyncio.Event().wait()


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", type=float, default=0.02,
                        help="share of requests dropped unread or answered 500 (half each)")
    parser.add_argument("--lost-answers", type=float, default=0.0,
                        help="share of accepted sends whose answer is lost (duplicates)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--graph", metavar="TEAMS_APP_ID", default=None,
                        help="also serve a fake Microsoft Graph listing the accepted messages")
    args = parser.parse_args()
    connector = Connector(faults=args.faults, lost_answers=args.lost_answers, seed=args.seed,
                          graph=FakeGraph(args.graph) if args.graph else None)
    try:
        asyncio.run(serve(connector, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
