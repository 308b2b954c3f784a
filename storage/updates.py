"""Status history: the one writer of StatusUpdate rows and of the RAG derived from them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action, StatusUpdate, as_utc
from storage.rules import parse_rag, parse_rating_change, rating_change


async def latest_update(*, session: AsyncSession, action_id: int) -> StatusUpdate | None:
    """The newest status update of an action."""
    result = await session.execute(
        select(StatusUpdate)
        .where(StatusUpdate.action_id == action_id)
        .order_by(StatusUpdate.at.desc(), StatusUpdate.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def lock_action(*, session: AsyncSession, action: Action) -> None:
    """Hold the action's row until the transaction ends (SELECT ... FOR UPDATE on PostgreSQL;
    SQLite has one writer at a time and ignores it) and read it again: what the caller loaded
    before may be stale, and an ORM object writes only the columns that differ from it."""
    await session.flush()
    await session.refresh(action, with_for_update=True)


async def record_update(
    *,
    session: AsyncSession,
    action: Action,
    source: str,
    at: datetime,
    rag: str | None = None,
    impact_rag: str | None = None,
    progress: str | None = None,
    evidence: str | None = None,
    blockers: str | None = None,
    corrective_action: str | None = None,
    next_review: date | None = None,
    by_name: str | None = None,
    by_person_id: int | None = None,
    rating_change_as_written: str | None = None,
    idempotency_key: str | None = None,
    keep_rag: bool = False,
) -> StatusUpdate:
    """Append one update and derive the action's current RAG and rating change from history.

    The RAG is read in any case ("RED", "r"); the text as written is kept in rag_text. The
    rating change compares with the previous update's RAG; with no previous RAG, the plan's own
    arrow (rating_change_as_written) is used. keep_rag: the RAG stays what the newest update
    says when this one is written (a note with "no change"), not what the caller read earlier.

    Updates of one action are serialised: the action's row is locked (PostgreSQL; SQLite
    transactions here begin IMMEDIATE) before the newest update is read, so two leads answering
    at the same moment each see the other's row, and the action's RAG is its newest row's. The
    new row is never dated before the one it follows, so "newest" is the same by time or by id.
    """
    await lock_action(session=session, action=action)
    previous = await latest_update(session=session, action_id=action.id)
    if previous is not None:
        at = max(at, as_utc(previous.at))
        if keep_rag:
            rag = previous.rag_text or previous.rag
    elif keep_rag:
        rag = action.rag
    canonical = parse_rag(rag)
    impact = parse_rag(impact_rag)
    before = parse_rag(previous.rag) if previous else None
    change = rating_change(before, canonical) or parse_rating_change(rating_change_as_written)
    update = StatusUpdate(
        action_id=action.id,
        at=at,
        source=source,
        by_name=by_name,
        by_person_id=by_person_id,
        rag=canonical.value if canonical else None,
        rag_text=rag,
        impact_rag=impact.value if impact else None,
        rating_change=change,
        progress=progress,
        evidence=evidence,
        blockers=blockers,
        corrective_action=corrective_action,
        next_review=next_review,
        idempotency_key=idempotency_key,
    )
    session.add(update)
    action.rag = update.rag
    action.impact_rag = update.impact_rag
    action.rating_change = change
    action.last_update_at = at
    session.add(action)
    await session.flush()
    return update
