"""A check-in card's answers, decided: what the card showed, what changed since, what is
stored, asked back or refused. No replies here; dialogs.checkin_submit answers the turn."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cards.common import and_list
from dialogs.checkin_payload import ActionAnswer, CheckinSubmit
from storage.models import Action, Checkin, CheckinRound, Person, StatusUpdate


def update_key(checkin_id: int, answer: ActionAnswer) -> str:
    """Idempotency key: the same answer on the same card is stored once (double clicks)."""
    parts = [answer.rag, answer.progress, answer.evidence, answer.blockers]
    if answer.corrective_action or answer.next_review:  # keys made before issue 8 stay the same
        parts += [answer.corrective_action, answer.next_review]
    content = "\x1f".join(str(part) for part in parts)
    digest = hashlib.sha256(content.encode()).hexdigest()[:24]
    return f"checkin:{checkin_id}:{answer.action_id}:{digest}"


async def latest_updates(session: AsyncSession, ids: list[int], *,
                         until: datetime | None = None) -> dict[int, StatusUpdate]:
    """The newest status update of each of these actions (one query); with `until`, the
    newest at or before that time."""
    newest = select(StatusUpdate.action_id, func.max(StatusUpdate.id).label("id")).where(
        StatusUpdate.action_id.in_(ids))
    if until is not None:
        newest = newest.where(StatusUpdate.at <= until)
    newest = newest.group_by(StatusUpdate.action_id).subquery()
    rows = await session.execute(select(StatusUpdate).join(newest, newest.c.id ==
                                                           StatusUpdate.id))
    return {update.action_id: update for update in rows.scalars()}


async def shown_updates(session: AsyncSession, checkin: Checkin, round_: CheckinRound,
                        ids: list[int], seen: dict[int, int] | None
                        ) -> dict[int, StatusUpdate | None]:
    """The status update each action's card showed: the card says which; a card made before
    cards said so showed what was newest when it was sent."""
    if seen is None:
        found = await latest_updates(session, ids, until=checkin.sent_at or round_.started_at)
        return {action_id: found.get(action_id) for action_id in ids}
    wanted = [update_id for action_id, update_id in seen.items() if update_id and
              action_id in ids]
    found = {update.id: update for update in (await session.execute(
        select(StatusUpdate).where(StatusUpdate.id.in_(wanted)))).scalars()} if wanted else {}
    return {action_id: (found.get(seen[action_id]) if seen.get(action_id) else None)
            for action_id in ids}


async def newer_checkin(session: AsyncSession, checkin: Checkin, round_: CheckinRound
                         ) -> tuple[Checkin, CheckinRound] | None:
    """The same person's check-in in a later round of the same plan, if one has started."""
    row = (await session.execute(
        select(Checkin, CheckinRound).join(CheckinRound, CheckinRound.id == Checkin.round_id)
        .where(Checkin.person_id == checkin.person_id, CheckinRound.plan_id == round_.plan_id,
               CheckinRound.id > round_.id)
        .order_by(CheckinRound.id.desc()).limit(1))).first()
    return None if row is None else tuple(row)


async def stored_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these idempotency keys are stored already (one query for the whole card)."""
    if not keys:
        return set()
    return set((await session.execute(select(StatusUpdate.idempotency_key).where(
        StatusUpdate.idempotency_key.in_(keys)))).scalars())


@dataclass
class Sorted:
    """One card submission's answers, sorted by what becomes of them."""

    store: list[tuple[ActionAnswer, str, bool]] = field(default_factory=list)  # key, RAG moved
    repeated: list[int] = field(default_factory=list)  # stored already (double click, retry)
    conflicts: list[tuple[ActionAnswer, StatusUpdate]] = field(default_factory=list)
    refused: list[Action] = field(default_factory=list)  # not the sender's to update any more

    @property
    def answered(self) -> bool:
        """The check-in counts as answered: something was stored, or everything said "no
        change" and nothing was refused or is waiting for a choice."""
        return bool(self.store or self.repeated) or not (self.conflicts or self.refused)


def sort_answers(parsed: CheckinSubmit, by_id: dict[int, Action],
                 shown: dict[int, StatusUpdate | None], latest: dict[int, StatusUpdate],
                 allowed: set[int], stored: set[str], target: Checkin, actor: Person) -> Sorted:
    """Decide per answer: a RAG equal to what the card showed is no change; a changed RAG on
    an action updated since the card was made is asked back, unless that update is the same
    person's earlier answer on this same check-in (they are correcting themselves); an action
    that is not theirs is refused; everything else is stored once (by its idempotency key)."""
    own = f"checkin:{target.id}:"
    result = Sorted()
    for answer in parsed.answers:
        before = shown.get(answer.action_id)
        rag_moved = (not answer.no_change and answer.rag is not None
                     and answer.rag != (before.rag if before else None))
        if not rag_moved and not answer.has_notes():
            continue
        key = update_key(target.id, answer)
        newest = latest.get(answer.action_id)
        if key in stored or (newest is not None and newest.idempotency_key == key):
            result.repeated.append(answer.action_id)
        elif answer.action_id not in allowed:
            result.refused.append(by_id[answer.action_id])
        elif rag_moved and newest is not None and (before is None or newest.id != before.id) \
                and not (newest.by_person_id == actor.id
                         and (newest.idempotency_key or "").startswith(own)):
            result.conflicts.append((answer, newest))
        else:
            result.store.append((answer, key, rag_moved))
    return result


def refused_notice(refused: list[Action], lead: Person) -> str:
    refs = and_list([action.ref for action in refused])
    one = len(refused) == 1
    return (f"Not saved: {refs} {'is' if one else 'are'} no longer led by "
            f"{lead.display_name} or anyone they stand in for (the lead was unlinked or changed "
            "since this card was sent). Ask a plan admin if this is wrong.")
