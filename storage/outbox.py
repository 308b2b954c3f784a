"""The outbox: every proactive message is a row, committed before it is sent (no commits here)."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cards.common import CONTENT_TYPE
from storage.models import Checkin, ConversationRef, Outbox

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
_UPSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
MARKER_PREFIX = "planbot-outbox-"


def marker(key: str) -> str:
    """The id of the hidden element that marks a row's card, so the sent message can be found
    again in the chat (bot.readback) when it is unknown whether a send arrived."""
    return MARKER_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]


def with_marker(activity: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of the activity whose Adaptive Cards end with an invisible, empty Container whose
    id is the row's marker (valid Adaptive Cards 1.5; Teams keeps element ids)."""
    marked = copy.deepcopy(activity)
    for attachment in marked.get("attachments") or []:
        content = attachment.get("content") if isinstance(attachment, dict) else None
        if attachment.get("contentType") == CONTENT_TYPE and isinstance(content, dict):
            content.setdefault("body", []).append(
                {"type": "Container", "id": marker(key), "isVisible": False, "items": []})
    return marked


def _insert_for(session: AsyncSession):
    """The dialect's INSERT with ON CONFLICT support, or None on other databases."""
    return _UPSERT.get(session.get_bind().dialect.name)


async def enqueue(*, session: AsyncSession, key: str, kind: str, conversation_id: str,
                  activity: dict[str, Any], now: datetime, checkin_id: int | None = None) -> bool:
    """Queue one message; False (and nothing changed) when the idempotency key exists already.

    The activity's cards get the row's marker (with_marker). Uses INSERT .. ON CONFLICT DO
    NOTHING on SQLite and PostgreSQL, so the caller's transaction
    is never disturbed: with storage/db.py's aiosqlite setup, a SAVEPOINT that opens the
    transaction commits on RELEASE, so begin_nested() is only the fallback for other databases.
    """
    values = {"idempotency_key": key, "kind": kind, "conversation_id": conversation_id,
              "activity_json": json.dumps(with_marker(activity, key)), "checkin_id": checkin_id,
              "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now}
    insert = _insert_for(session)
    if insert is not None:
        statement = insert(Outbox).values(**values).on_conflict_do_nothing(
            index_elements=["idempotency_key"])
        result = await session.execute(statement)
        return result.rowcount == 1
    try:
        async with session.begin_nested():
            session.add(Outbox(**values))
    except IntegrityError:
        exists = await session.execute(select(Outbox.id).where(Outbox.idempotency_key == key))
        if exists.scalar() is None:
            raise  # not a duplicate key: a real constraint failure
        return False
    return True


async def claim(*, session: AsyncSession, now: datetime, limit: int,
                lease: timedelta) -> list[Outbox]:
    """Lease due rows (pending, or sending with an expired lease), oldest first; attempts += 1.

    One UPDATE .. WHERE id IN (SELECT .. FOR UPDATE SKIP LOCKED) .. RETURNING statement, so
    concurrent claimers on PostgreSQL never get the same row; on SQLite it is atomic too.
    """
    due = (select(Outbox.id)
           .where(Outbox.next_attempt_at <= now,
                  or_(Outbox.status == PENDING,
                      (Outbox.status == SENDING) & (Outbox.lease_until <= now)))
           .order_by(Outbox.next_attempt_at, Outbox.id)
           .limit(limit)
           .with_for_update(skip_locked=True))
    statement = (update(Outbox).where(Outbox.id.in_(due))
                 .values(status=SENDING, lease_until=now + lease, attempts=Outbox.attempts + 1)
                 .returning(Outbox)
                 .execution_options(synchronize_session=False, populate_existing=True))
    rows = list((await session.execute(statement)).scalars())
    rows.sort(key=lambda row: (row.next_attempt_at, row.id))
    return rows


async def mark_sent(*, session: AsyncSession, row_id: int, activity_id: str | None,
                    now: datetime) -> bool:
    """Record a delivered row (and its check-in); False when the row was already sent."""
    row = await session.get(Outbox, row_id, with_for_update=True, populate_existing=True)
    if row is None or row.status == SENT:
        return False
    row.status, row.sent_activity_id, row.sent_at = SENT, activity_id, now
    row.lease_until, row.last_error = None, None
    if row.checkin_id is not None:
        await _checkin_sent(session, row, activity_id, now)
    return True


async def _checkin_sent(session: AsyncSession, row: Outbox, activity_id: str | None,
                        now: datetime) -> None:
    checkin = await session.get(Checkin, row.checkin_id)
    if checkin is None:
        return
    checkin.conversation_id = row.conversation_id
    if row.kind == "checkin":
        checkin.card_activity_id = activity_id
        checkin.sent_at = now
    elif checkin.sent_at is None:
        checkin.sent_at = now
    if checkin.status == "pending":
        checkin.status = "sent"


async def extend_lease(*, session: AsyncSession, row_id: int, lease_until: datetime | None,
                       until: datetime, posted_at: datetime | None = None) -> bool:
    """Renew the lease of a row still 'sending' under the lease we hold; False (nothing
    written) if lost. With posted_at, also record that a send of it begins then."""
    values: dict[str, Any] = {"lease_until": until}
    if posted_at is not None:
        values["posted_at"] = posted_at
    statement = (update(Outbox).where(Outbox.id == row_id, Outbox.status == SENDING,
                                      Outbox.lease_until == lease_until)
                 .values(**values).execution_options(synchronize_session=False))
    return (await session.execute(statement)).rowcount == 1


async def _finish(session: AsyncSession, row_id: int, **values: Any) -> bool:
    statement = (update(Outbox).where(Outbox.id == row_id, Outbox.status != SENT)
                 .values(lease_until=None, **values)
                 .execution_options(synchronize_session=False))
    return (await session.execute(statement)).rowcount == 1


async def mark_retry(*, session: AsyncSession, row_id: int, error: str,
                     next_attempt_at: datetime, posted_at: datetime | None = None) -> bool:
    """Put a row back to pending for another attempt; never touches a row already sent.

    posted_at: when a send that may have arrived began (None: no send of it can have arrived).
    """
    return await _finish(session, row_id, status=PENDING, last_error=error[:2000],
                         next_attempt_at=next_attempt_at, posted_at=posted_at)


async def mark_failed(*, session: AsyncSession, row_id: int, error: str, now: datetime) -> bool:
    """Give up on a row (final error); never touches a row already sent.

    `now` is kept for symmetry: the table has no failed-at column, so it is not stored.
    """
    del now
    return await _finish(session, row_id, status=FAILED, last_error=error[:2000])


async def pending_count(*, session: AsyncSession) -> int:
    """Rows not finished yet (pending or sending)."""
    statement = select(func.count()).select_from(Outbox).where(
        Outbox.status.in_([PENDING, SENDING]))
    return int((await session.execute(statement)).scalar_one())


async def list_rows(*, session: AsyncSession, status: str | None = None,
                    limit: int = 100) -> list[Outbox]:
    """Outbox rows, oldest first, optionally of one status."""
    statement = select(Outbox).order_by(Outbox.id).limit(limit)
    if status is not None:
        statement = statement.where(Outbox.status == status)
    return list((await session.execute(statement)).scalars())


async def get_reference(*, session: AsyncSession, conversation_id: str) -> ConversationRef | None:
    """The stored conversation reference of a conversation, if any."""
    statement = select(ConversationRef).where(ConversationRef.conversation_id == conversation_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def get_references(*, session: AsyncSession,
                         conversation_ids: set[str]) -> dict[str, ConversationRef]:
    """The stored references of several conversations, by conversation id (one query)."""
    if not conversation_ids:
        return {}
    statement = select(ConversationRef).where(
        ConversationRef.conversation_id.in_(sorted(conversation_ids)))
    return {ref.conversation_id: ref for ref in (await session.execute(statement)).scalars()}


async def save_reference(*, session: AsyncSession, conversation_id: str, kind: str,
                         service_url: str, reference_json: str, now: datetime,
                         tenant_id: str | None = None, person_id: int | None = None,
                         team_id: str | None = None, name: str | None = None,
                         aad_group_id: str | None = None) -> ConversationRef:
    """Insert or update a conversation reference by conversation id (concurrency-safe upsert).

    None for tenant_id, person_id, team_id, name or aad_group_id keeps what is stored. A team's
    group id (only some Teams events carry it) is shared by every channel of that team.
    """
    if aad_group_id is None and team_id is not None:
        aad_group_id = (await session.execute(
            select(ConversationRef.aad_group_id).where(
                ConversationRef.team_id == team_id, ConversationRef.aad_group_id.is_not(None))
            .limit(1))).scalar()
    elif aad_group_id is not None and team_id is not None:
        await session.execute(update(ConversationRef).where(
            ConversationRef.team_id == team_id, ConversationRef.aad_group_id.is_(None))
            .values(aad_group_id=aad_group_id).execution_options(synchronize_session=False))
    values = {"conversation_id": conversation_id, "kind": kind, "service_url": service_url,
              "reference_json": reference_json, "tenant_id": tenant_id, "person_id": person_id,
              "team_id": team_id, "name": name, "aad_group_id": aad_group_id,
              "updated_at": now}
    insert = _insert_for(session)
    if insert is None:
        raise NotImplementedError("save_reference supports SQLite and PostgreSQL")
    statement = insert(ConversationRef).values(**values)
    keep = {"tenant_id", "person_id", "team_id", "name", "aad_group_id"}
    stored = ConversationRef.__table__.c
    changes = {column: (func.coalesce(statement.excluded[column], stored[column])
                        if column in keep else statement.excluded[column])
               for column in values if column != "conversation_id"}
    statement = statement.on_conflict_do_update(index_elements=["conversation_id"], set_=changes)
    await session.execute(statement)
    found = await session.execute(
        select(ConversationRef).where(ConversationRef.conversation_id == conversation_id)
        .execution_options(populate_existing=True))
    return found.scalar_one()
