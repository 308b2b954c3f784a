"""Proactive sends through botbuilder: conversation references and one outbox row's delivery.

botbuilder swallows exceptions raised in a continue_conversation callback (on_turn_error,
BOTBUILDER-NOTES §0.4), so the callback records its own outcome in a DeliveryResult.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ConversationReference, ResourceResponse
from msrest.exceptions import (
    AuthenticationError,
    ClientRequestError,
    HttpOperationError,
    ValidationError,
)
from msrest.universal_http.requests import ClientRetryPolicy
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from storage.models import ConversationRef, Outbox
from storage.outbox import save_reference

log = logging.getLogger(__name__)
RETRYABLE_STATUSES = frozenset({412, 429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (ClientRequestError, AuthenticationError, aiohttp.ClientError,
                    ConnectionError, TimeoutError)
BLOCKED = "the recipient blocked the bot, uninstalled it or left the conversation"


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one send: ok with the activity id, or an error and whether to retry."""

    ok: bool
    activity_id: str | None = None
    status: int | None = None
    retry_after: float | None = None
    error: str | None = None
    final: bool = False


def is_final_status(status: int) -> bool:
    """True for HTTP errors that another attempt will not fix (403, 404, other 4xx)."""
    return 400 <= status < 500 and status not in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def reference_from_activity(activity: Activity) -> dict[str, Any]:
    """The serialized ConversationReference of an incoming activity."""
    return TurnContext.get_conversation_reference(activity).serialize()


def _channel_data(activity: Activity) -> dict[str, Any]:
    data = activity.channel_data
    return data if isinstance(data, dict) else {}


def base_conversation_id(conversation_id: str, kind: str) -> str:
    """The conversation to write to later: a channel itself, not the thread of one message."""
    # Channel messages carry "19:...@thread.tacv2;messageid=..." (the thread). Proactive posts go
    # to the channel itself, as new posts, so the reference is stored without the thread part.
    return conversation_id.split(";messageid=")[0] if kind == "channel" else conversation_id


async def store_reference(*, session: AsyncSession, activity: Activity, person_id: int | None,
                          now: datetime) -> ConversationRef:
    """Save (upsert by conversation id) the reference needed to message this conversation later."""
    conversation = activity.conversation
    kind = conversation.conversation_type or "personal"
    reference = reference_from_activity(activity)
    conversation_id = base_conversation_id(conversation.id, kind)
    reference["conversation"]["id"] = conversation_id
    data = _channel_data(activity)
    team = data.get("team") if isinstance(data.get("team"), dict) else {}
    tenant = data.get("tenant") if isinstance(data.get("tenant"), dict) else {}
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else {}
    return await save_reference(
        session=session, conversation_id=conversation_id, kind=kind,
        service_url=activity.service_url, reference_json=json.dumps(reference), now=now,
        tenant_id=_text(conversation.tenant_id) or _text(tenant.get("id")), person_id=person_id,
        team_id=_text(team.get("id")) or _text(data.get("teamsTeamId")),
        aad_group_id=_text(team.get("aadGroupId")) if kind == "channel" else None,
        name=_text(conversation.name) or _text(channel.get("name")))


def _text(value: object) -> str | None:
    """A channelData value worth keeping: a non-empty string of sensible length, else None
    (Teams sends strings; anything else is not stored)."""
    return value if isinstance(value, str) and 0 < len(value) <= 400 else None


def _status_of(exc: HttpOperationError) -> tuple[int | None, str | None]:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    headers = getattr(response, "headers", None) or {}
    return (int(status) if status is not None else None), headers.get("Retry-After")


def result_from_error(exc: BaseException, now: datetime) -> DeliveryResult:
    """Classify an exception raised by a send into a DeliveryResult."""
    if isinstance(exc, HttpOperationError):
        status, retry_after = _status_of(exc)
        text = f"HTTP {status}: {exc}"
        if status in (403, 404):
            text = f"HTTP {status} ({BLOCKED}): {exc}"
        final = status is not None and is_final_status(status)
        return DeliveryResult(ok=False, status=status, error=text, final=final,
                              retry_after=parse_retry_after(retry_after, now))
    name = type(exc).__name__
    if isinstance(exc, TRANSIENT_ERRORS):
        return DeliveryResult(ok=False, error=f"{name}: {exc}")
    if isinstance(exc, ValueError | TypeError | KeyError | ValidationError):
        return DeliveryResult(ok=False, error=f"bad message ({name}: {exc})", final=True)
    return DeliveryResult(ok=False, error=f"{name}: {exc}")


async def _top_level(_context: TurnContext, activities: list[Activity],
                     next_send: Callable[[], Awaitable[Any]]) -> Any:
    # Inside continue_conversation the continuation event's fresh id becomes reply_to_id
    # (TurnContext.apply_conversation_reference), which would make botbuilder call
    # reply_to_activity; clearing it posts to /v3/conversations/{id}/activities instead.
    for activity in activities:
        activity.reply_to_id = None
    return await next_send()


def speed_up_msrest() -> None:
    """Make msrest's ClientRetryPolicy cheap to build (same behaviour; idempotent)."""
    # msrest 0.7.1 builds every ClientRetryPolicy with `[i for i in range(999) if i not in
    # safe_codes]`, safe_codes being a 502-item list: about 3 ms of CPU each time. CloudAdapter
    # builds two msrest clients per proactive turn (connector and user token), so this was
    # ~40 % of a send's CPU (14.1 -> 8.6 ms per send, bench/fanout.py). A frozenset of the same
    # codes gives the same retry list; msrest uses safe_codes nowhere else.
    if not isinstance(ClientRetryPolicy.safe_codes, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)


class BotDelivery:
    """Delivers outbox rows with CloudAdapter.continue_conversation and reports each outcome."""

    def __init__(self, adapter: BotAdapter, settings: Settings, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 timeout: float = 30.0) -> None:
        self._adapter = adapter
        self._app_id = settings.app_id or None
        self._clock = clock
        self._timeout = timeout
        speed_up_msrest()

    def _configure(self, context: TurnContext) -> None:
        # msrest's requests transport retries connection errors itself (3 times, ~5 s of
        # blocking backoff) and waits 100 s by default; the Sender owns retries and timeouts.
        client = context.turn_state.get(self._adapter.BOT_CONNECTOR_CLIENT_KEY)
        config = getattr(client, "config", None)
        if config is not None and hasattr(config, "retry_policy"):
            config.retry_policy.retries = 0
            config.connection.timeout = self._timeout

    async def deliver(self, row: Outbox, reference_json: str) -> DeliveryResult:
        """Send one row's activity to its conversation; never raises."""
        outcome: list[DeliveryResult] = []

        async def callback(context: TurnContext) -> None:
            try:
                self._configure(context)
                context.on_send_activities(_top_level)
                activity = Activity().deserialize(json.loads(row.activity_json))
                response: ResourceResponse | None = await context.send_activity(activity)
            except Exception as exc:  # noqa: BLE001 - recorded; botbuilder would swallow it
                outcome.append(result_from_error(exc, self._clock()))
            else:
                outcome.append(DeliveryResult(ok=True, activity_id=response and response.id))

        try:
            reference = ConversationReference().deserialize(json.loads(reference_json))
            await self._adapter.continue_conversation(reference, callback,
                                                      bot_app_id=self._app_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. credentials could not be created
            log.warning("proactive turn for outbox row %s failed before sending", row.id,
                        exc_info=True)
            result = result_from_error(exc, self._clock())
            return replace(result, error=f"could not start the proactive turn: {result.error}")
        if not outcome:
            return DeliveryResult(ok=False, error="the send callback did not run")
        return outcome[0]
