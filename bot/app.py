"""The aiohttp application: POST /api/messages (our own handler) and GET /healthz."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging

import jwt
from aiohttp import web
from botbuilder.core.serializer_helper import serializer_helper
from botbuilder.schema import Activity
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.adapter import create_adapter
from bot.config import Settings
from bot.downloads import download_handler
from bot.proactive import BotDelivery
from bot.readback import GraphReadback
from bot.scheduler import Scheduler
from bot.sender import Sender
from bot.teams_bot import PlanBot
from dialogs.context import Clock, Deps, system_clock
from dialogs.help import build_router
from storage.db import database_status, session_factory
from storage.export.links import DownloadLinks

log = logging.getLogger(__name__)
SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
BOT = web.AppKey("bot", PlanBot)
ADAPTER = web.AppKey("adapter", object)
MAX_BODY = 1024 * 1024


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def messages(request: web.Request) -> web.Response:
    """Bot Framework endpoint; answers 401 (never 500) for bad tokens, and serves invokes.

    botbuilder 4.17's CloudAdapter.process answers 500 to every invoke with a body and to
    malformed tokens (see BOTBUILDER-NOTES.md §0.1, §0.3), so this handler replaces it.
    """
    settings = request.app[SETTINGS]
    if settings.refuses_traffic:
        return _error(401, "planbot has no MicrosoftAppId configured and is not in local mode")
    if settings.local_mode and not is_loopback(request.remote):
        log.warning("refused anonymous traffic from %s in local mode", request.remote)
        return _error(403, "local mode accepts traffic from this machine only")
    if "application/json" not in request.headers.get("Content-Type", ""):
        return _error(415, "Content-Type must be application/json")
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "the body is not valid JSON")
    if not isinstance(body, dict) or not body.get("type"):
        return _error(400, "the activity has no type")
    try:
        activity = Activity().deserialize(body)
    except Exception:  # msrest raises several types for wrong shapes
        log.warning("activity could not be read", exc_info=True)
        return _error(400, "the activity could not be read")
    auth_header = request.headers.get("Authorization", "")
    adapter = request.app[ADAPTER]
    try:
        # Authenticate first, on its own: botbuilder raises many types for bad tokens
        # (PermissionError, jwt errors, IndexError for an unknown key id, bare Exception for an
        # endorsement), and every one of them means 401, never 500.
        authenticated = await adapter.bot_framework_authentication.authenticate_request(
            activity, auth_header)
    except Exception as exc:  # noqa: BLE001 - any failure to authenticate is a 401
        log.warning("unauthorised request (%s): %s", type(exc).__name__, exc)
        return _error(401, "unauthorised")
    try:
        response = await adapter.process_activity(authenticated, activity,
                                                  request.app[BOT].on_turn)
    except (PermissionError, jwt.PyJWTError) as exc:
        log.warning("unauthorised request: %s", exc)
        return _error(401, "unauthorised")
    if response is None:
        return web.Response(status=201)
    result = response.body
    if result is not None and not isinstance(result, dict | list):
        result = serializer_helper(result)
    return web.json_response(result, status=int(response.status))


async def healthz(request: web.Request) -> web.Response:
    """200 with the database status when the database answers, else 503."""
    status = await database_status(request.app[ENGINE])
    code = 200 if status == "ok" else 503
    return web.json_response({"status": "ok" if code == 200 else "degraded",
                              "database": status,
                              "local_mode": request.app[SETTINGS].local_mode}, status=code)


def workers(settings: Settings, engine: AsyncEngine, adapter, clock: Clock):
    """Background work of a serving process: the scheduler and the outbox sender."""

    async def context(app: web.Application):
        sessions = session_factory(engine)
        stop = asyncio.Event()
        readback = GraphReadback(settings, clock=clock) if settings.graph_readback else None
        sender = Sender(sessions, BotDelivery(adapter, settings, clock=clock), clock,
                        readback=readback, **settings.sender_options())
        scheduler = Scheduler(sessions, clock, timezone=settings.timezone)
        tasks = [asyncio.create_task(sender.run(stop), name="sender"),
                 asyncio.create_task(scheduler.run(stop), name="scheduler")]
        log.info("scheduler and outbox sender started; read-back of uncertain sends through "
                 "Microsoft Graph: %s", "on" if readback is not None else
                 "off (PLANBOT_GRAPH_READBACK)")
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if readback is not None:
            await readback.close()

    return context


def create_app(settings: Settings, engine: AsyncEngine, *, clock: Clock = system_clock,
               adapter=None, background: bool = False) -> web.Application:
    """Build the web application around an engine whose schema is already migrated.

    With background=True the app also runs the scheduler and the outbox sender.
    """
    app = web.Application(client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[ENGINE] = engine
    app[ADAPTER] = adapter or create_adapter(settings)
    links = DownloadLinks(key=settings.download_key(), base_url=settings.base_url)
    deps = Deps(sessions=session_factory(engine), clock=clock, admins=settings.admin_ids,
                timezone=settings.timezone, links=links)
    app[BOT] = PlanBot(build_router(), deps)
    if background:
        app.cleanup_ctx.append(workers(settings, engine, app[ADAPTER], clock))
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/exports/{token}/{filename}", download_handler(engine, links, clock))
    if settings.refuses_traffic:
        log.error("No MicrosoftAppId is configured and local mode is off: every request to "
                  "/api/messages is refused. Set MicrosoftAppId and MicrosoftAppPassword, or "
                  "use `planbot demo` / `planbot serve --local` on your own machine.")
    if settings.local_mode:
        log.warning("LOCAL MODE: no Bot Framework authentication; anonymous traffic from "
                    "loopback only. Never expose this process to a network.")
    return app
