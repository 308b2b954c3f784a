"""A bare echo bot on planbot's stack, the baseline for bench/http_throughput.py.

Run: .venv/bin/python -m bench.echo_bot --port 3979
botbuilder 4.17 CloudAdapter + aiohttp, anonymous like `planbot serve --local` (no app id,
loopback traffic only, outgoing calls carry no token). A message is echoed to the Bot
Connector at the activity's serviceUrl; an adaptiveCard/action invoke (Action.Execute) is
answered with a small card in the invoke response. /api/messages is served by our own handler,
as planbot's is: CloudAdapter.process answers 500 to every invoke with a body in 4.17
(BOTBUILDER-NOTES.md §0.1) because it serializes the already-serialized body a second time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.core.serializer_helper import serializer_helper
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, AdaptiveCardInvokeResponse

log = logging.getLogger("echo_bot")
ADAPTER = web.AppKey("adapter", CloudAdapter)
BOT = web.AppKey("bot", ActivityHandler)
CARD = "application/vnd.microsoft.card.adaptive"


class _AnonymousConfig:
    """What ConfigurationBotFrameworkAuthentication reads: no app id means anonymous."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


def small_card(verb: str) -> dict:
    """The card the echo bot answers an Action.Execute with."""
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5", "body": [{"type": "TextBlock", "wrap": True,
                                        "text": f"Received {verb}"}]}


class EchoBot(ActivityHandler):
    """Echoes messages; answers Action.Execute with a small card."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(
            f"You said: {turn_context.activity.text or ''}"))

    async def on_adaptive_card_invoke(self, turn_context: TurnContext, invoke_value):
        action = invoke_value.action if isinstance(invoke_value.action, dict) else {}
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD,
                                          value=small_card(str(action.get("verb"))))


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def messages(request: web.Request) -> web.Response:
    """POST /api/messages: the BOTBUILDER-NOTES §6a handler (invokes answer 200, not 500)."""
    if not _is_loopback(request.remote):
        return _error(403, "anonymous traffic from this machine only")
    if "application/json" not in request.headers.get("Content-Type", ""):
        return _error(415, "Content-Type must be application/json")
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "the body is not valid JSON")
    if not isinstance(body, dict) or not body.get("type"):
        return _error(400, "the activity has no type")
    activity = Activity().deserialize(body)
    try:
        response = await request.app[ADAPTER].process_activity(
            request.headers.get("Authorization", ""), activity, request.app[BOT].on_turn)
    except PermissionError:
        return _error(401, "unauthorised")
    if response is None:
        return web.Response(status=201)
    result = response.body
    if result is not None and not isinstance(result, dict | list):
        result = serializer_helper(result)
    return web.json_response(result, status=int(response.status))


def create_app(authentication: type = ConfigurationBotFrameworkAuthentication
               ) -> web.Application:
    """The echo bot's web application (authentication: planbot's own with --same-trims)."""
    adapter = CloudAdapter(authentication(_AnonymousConfig()))

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        log.error("turn failed", exc_info=error)
        raise error  # surface as a 500 so the benchmark counts it

    adapter.on_turn_error = on_turn_error
    app = web.Application()
    app[ADAPTER] = adapter
    app[BOT] = EchoBot()
    app.router.add_post("/api/messages", messages)
    return app


async def serve(host: str, port: int,
                authentication: type = ConfigurationBotFrameworkAuthentication) -> None:
    """Serve until interrupted, the way `planbot serve` does (AppRunner, access log on)."""
    runner = web.AppRunner(create_app(authentication))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("echo bot listening on http://%s:%s/api/messages", host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3979)
    parser.add_argument("--same-trims", "--fast-msrest", dest="same_trims",
                        action="store_true",
                        help="apply the two botbuilder trims planbot applies to itself: "
                             "msrest's ClientRetryPolicy made cheap (bot/proactive.py "
                             "speed_up_msrest) and the user token client made on first use "
                             "(bot/adapter.py Authentication); default: stock botbuilder")
    args = parser.parse_args()
    authentication = ConfigurationBotFrameworkAuthentication
    if args.same_trims:
        from bot.adapter import Authentication
        from bot.proactive import speed_up_msrest

        speed_up_msrest()
        authentication = Authentication
    # The same logging set-up as bot/cli.py's main(), so both bots pay for the same access log.
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, authentication))


if __name__ == "__main__":
    main()
