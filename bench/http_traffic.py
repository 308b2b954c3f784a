"""Teams traffic for the HTTP benchmark (bench/http_throughput.py): activity JSON from the
benchmark's user in their 1:1 chat as Teams sends it, what Teams sends for a card left as it is,
and the fake Bot Connector that answers every send and counts the replies of each run.
The shapes are those of tests/fakes/teams.py, which bench does not import."""

from __future__ import annotations

import itertools
from collections import defaultdict

from aiohttp import web

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT_ACCOUNT = {"id": "28:0b4a3f6e-8d3c-4e1f-9a55-6c1d2e3f4a5b", "name": "planbot"}
USER = {"id": "29:1BenchUserTeamsId", "name": "Bench Lead",
        "aadObjectId": "5e1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}
CHAT = {"conversationType": "personal", "tenantId": TENANT, "id": "a:1Bench-personal-chat"}


def activity(service_url: str, activity_id: str, **extra) -> dict:
    """An activity from the benchmark's user in their 1:1 chat, as Teams sends it."""
    body = {
        "id": activity_id,
        "timestamp": "2026-11-25T09:00:00.000Z",
        "localTimestamp": "2026-11-25T09:00:00.000+00:00",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": dict(USER),
        "conversation": dict(CHAT),
        "recipient": dict(BOT_ACCOUNT),
        "locale": "en-GB",
        "localTimezone": "Europe/London",
        "channelData": {"tenant": {"id": TENANT}},
        "entities": [{"locale": "en-GB", "country": "GB", "platform": "Web",
                      "timezone": "Europe/London", "type": "clientInfo"}],
    }
    body.update(extra)
    return body


def personal_message(service_url: str, activity_id: str, text: str) -> dict:
    """A message typed in the 1:1 chat with the bot."""
    return activity(service_url, activity_id, type="message", text=text, textFormat="plain")


def card_execute(service_url: str, activity_id: str, verb: str, data: dict) -> dict:
    """An Action.Execute click (Universal Actions): invoke adaptiveCard/action."""
    return activity(service_url, activity_id, type="invoke", name="adaptiveCard/action",
                    replyToId="checkin-card-activity",
                    value={"action": {"type": "Action.Execute", "id": "execute-1", "verb": verb,
                                      "data": data}, "trigger": "manual"})


def card_answers(card: dict) -> dict[str, str]:
    """What Teams sends for a card left as it is: the action's data and every input's value."""
    data: dict[str, str] = dict(card["actions"][0]["data"])

    def walk(node) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                default = node.get("value", "")
                data[node["id"]] = ("false" if node["type"] == "Input.Toggle" and not default
                                    else str(default))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card["body"])
    return data


# -- the fake Bot Connector (its own process, so it does not steal the load generator's loop) --

def tag_of(activity_id: str) -> str:
    """'bench.<tag>.<n>' -> '<tag>' (the run a request belongs to)."""
    return activity_id.rsplit(".", 1)[0].removeprefix("bench.")


def connector_app(keep_bodies: int = 200) -> web.Application:
    """Answers 200 to every send/update; counts replies per run tag; keeps the first bodies."""
    replies: dict[str, int] = defaultdict(int)
    answered: dict[str, set[str]] = defaultdict(set)
    empty: dict[str, int] = defaultdict(int)
    bodies: list[dict] = []
    counter = itertools.count(1)

    async def send(request: web.Request) -> web.Response:
        body = await request.json()
        if len(bodies) < keep_bodies:
            bodies.append({"method": request.method, "path": request.path, "body": body})
        reply_to = request.match_info.get("aid", "")
        if reply_to.startswith("bench."):
            tag = tag_of(reply_to)
            replies[tag] += 1
            if body.get("type") == "message" and (body.get("text") or body.get("attachments")):
                answered[tag].add(reply_to)
            else:
                empty[tag] += 1
        return web.json_response({"id": f"sent-{next(counter)}"})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({tag: {"replies": replies[tag], "answered": len(answered[tag]),
                                        "empty": empty[tag]} for tag in replies})

    async def kept(_request: web.Request) -> web.Response:
        return web.json_response(bodies)

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/v3/conversations/{cid}/activities", send)
    app.router.add_post("/v3/conversations/{cid}/activities/{aid}", send)
    app.router.add_put("/v3/conversations/{cid}/activities/{aid}", send)
    app.router.add_get("/_bench/stats", stats)
    app.router.add_get("/_bench/bodies", kept)
    return app


def serve_connector(port: int) -> None:
    """Entry point of the connector subprocess."""
    web.run_app(connector_app(), host="127.0.0.1", port=port, print=None, access_log=None)
