"""The aiohttp application: POST /api/messages (our own handler) and GET /healthz."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import jwt
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from botbuilder.core.serializer_helper import serializer_helper
from botbuilder.schema import Activity
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.adapter import SigningKeys, SigningKeysUnavailable, create_adapter
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
from storage.models import ConversationRef

log = logging.getLogger(__name__)
SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
BOT = web.AppKey("bot", PlanBot)
ADAPTER = web.AppKey("adapter", object)
MAX_BODY = 1024 * 1024
MAX_DEPTH = 64  # objects and lists inside one another; Teams sends fewer than 10
# Characters no database stores: lone UTF-16 surrogates (only a \u escape makes them: raw
# bytes are not UTF-8) and NUL (PostgreSQL refuses it). Replaced by U+FFFD, as a decoder does.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")
# Identifiers stored as they come, in indexed columns (PostgreSQL's index rows hold < 2.7 kB).
_ID_LIMITS = (("conversation.id", ConversationRef.__table__.c.conversation_id.type.length),
              ("from.id", 400), ("from.aadObjectId", 400))
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:sig|signature|access_token|code)=)[^&;\s\"#]*")
_EXPORT_QUERY = re.compile(r"(/exports/[^?\s\"#]*)\?[^\s\"#]*")


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def redact(text: str) -> str:
    """A URL (or a line holding URLs) without its secrets: no query string on a download link
    (/exports/...?expires=...&sig=...), and no value for a sig, signature, access_token or
    code parameter anywhere."""
    return _SECRET_QUERY.sub(r"\1[redacted]", _EXPORT_QUERY.sub(r"\1", text))


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's access log line (its default format), with the request line and Referer
    redacted: a download link's signature is as good as the file for 24 hours."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        started = datetime.now(UTC) - timedelta(seconds=time)
        version = request.version
        self.logger.info('%s [%s] "%s %s HTTP/%d.%d" %s %s "%s" "%s"', request.remote or "-",
                         started.strftime("%d/%b/%Y:%H:%M:%S %z"), request.method,
                         redact(request.path_qs), version.major, version.minor,
                         response.status, response.body_length,
                         redact(request.headers.get("Referer", "-")),
                         request.headers.get("User-Agent", "-"))


class BadBody(ValueError):
    """A request body planbot refuses with 400; the message says why."""


def read_body(raw: bytes) -> dict:
    """The activity JSON, checked: an object, at most MAX_DEPTH levels deep, with characters
    no database stores (lone surrogates, NUL) replaced by U+FFFD; else BadBody."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadBody(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError, or a number too long to read
        raise BadBody("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadBody("the activity has no type")
    unstorable = _UNSTORABLE_ESCAPE.search(raw) is not None
    if unstorable or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        _walk(body, unstorable)
    return body


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def _walk(body: dict, unstorable: bool) -> None:
    """Check the nesting depth, and replace unstorable characters in keys and strings (in
    place, without recursion)."""
    stack: list[tuple[dict | list, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadBody(f"the body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            if unstorable:
                for key in [key for key in node if _UNSTORABLE.search(key)]:
                    node[_clean(key)] = node.pop(key)
            items = node.items()
        else:
            items = enumerate(node)
        for key, value in list(items):
            if isinstance(value, str):
                if unstorable:
                    node[key] = _clean(value)
            elif isinstance(value, dict | list):
                stack.append((value, depth + 1))


def _dotted(activity: Activity, path: str) -> object:
    value: object = activity
    for part in path.split("."):
        value = getattr(value, {"from": "from_property", "aadObjectId": "aad_object_id"}.get(
            part, part), None)
    return value


def activity_problem(activity: Activity) -> str | None:
    """Why an activity cannot be handled (a 400), or None: every Bot Framework activity names
    its conversation and the service to answer through."""
    conversation = activity.conversation
    if conversation is None or not isinstance(conversation.id, str) or not conversation.id:
        return "the activity has no conversation.id"
    if not isinstance(activity.service_url, str) or not activity.service_url:
        return "the activity has no serviceUrl"
    for path, limit in _ID_LIMITS:
        value = _dotted(activity, path)
        if isinstance(value, str) and len(value) > limit:
            return f"{path} is longer than {limit} characters"
    return None


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
        body = read_body(await request.read())
    except BadBody as exc:
        return _error(400, str(exc))
    if not isinstance(body.get("type"), str) or not body["type"]:
        return _error(400, "the activity has no type")
    try:
        activity = Activity().deserialize(body)
    except Exception as exc:  # noqa: BLE001 - msrest raises several types for wrong shapes
        log.warning("activity could not be read (%s): %s", type(exc).__name__, str(exc)[:200])
        return _error(400, "the activity could not be read")
    problem = activity_problem(activity)
    if problem is not None:
        log.warning("refused an activity: %s", problem)
        return _error(400, problem)
    auth_header = request.headers.get("Authorization", "")
    adapter = request.app[ADAPTER]
    try:
        # Authenticate first, on its own: botbuilder raises many types for bad tokens
        # (PermissionError, jwt errors, IndexError for an unknown key id, bare Exception for an
        # endorsement), and every one of them means 401, never 500.
        authenticated = await adapter.bot_framework_authentication.authenticate_request(
            activity, auth_header)
    except SigningKeysUnavailable as exc:  # nothing is known about the token yet
        log.error("could not check a request's token: %s", exc)
        return web.json_response(
            {"error": "planbot cannot check tokens right now: the Bot Framework signing keys "
                      "could not be fetched; try again shortly"},
            status=503, headers={"Retry-After": str(max(1, round(SigningKeys.retry_after)))})
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
    app = web.Application(client_max_size=MAX_BODY,
                          handler_args={"access_log_class": RedactingAccessLogger})
    app[SETTINGS] = settings
    app[ENGINE] = engine
    app[ADAPTER] = adapter or create_adapter(settings)
    links = DownloadLinks(key=settings.download_key(), base_url=settings.base_url)
    deps = Deps(sessions=session_factory(engine), clock=clock, admins=settings.admin_ids,
                timezone=settings.timezone, links=links, readers=settings.plan_readers)
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
