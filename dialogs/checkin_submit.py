"""Answering a check-in card: authorisation against stored assignments, validation, history."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cards.checkin import RecordedActionView, RecordedView, checkin_card, recorded_card
from dialogs.checkin import card_view, period_label
from dialogs.checkin_payload import ActionAnswer, CheckinSubmit, SubmitInvalid
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.models import Action, Admin, Checkin, CheckinRound, Person, Plan, StatusUpdate
from storage.people import led_by
from storage.updates import record_update

log = logging.getLogger(__name__)
router = Router()
OUT_OF_DATE = ("This check-in card is out of date or was not made by me. Your next card comes "
               "with the weekly round; type 'help' to see what I can do.")


async def acting_person(session: AsyncSession, turn: Turn,
                        expected: Person | None = None) -> Person | None:
    """The Person behind this turn, found by AAD object id, then Teams user id.

    expected: a person already loaded (a card's lead) who is taken without a query when the
    turn's ids are theirs."""
    if expected is not None and (
            (turn.user_aad_id and turn.user_aad_id == expected.aad_object_id)
            or (not turn.user_aad_id and turn.user_id
                and turn.user_id == expected.teams_user_id)):
        return expected
    for column, value in (("aad_object_id", turn.user_aad_id), ("teams_user_id", turn.user_id)):
        if value:
            person = (await session.execute(_person_by(column), {"value": value})).scalar()
            if person is not None:
                return person
    return None


@cache
def _person_by(column: str) -> Select:
    """The person whose `column` is the parameter `value` (built once: every turn asks)."""
    return select(Person).where(getattr(Person, column) == bindparam("value"))


async def is_admin(session: AsyncSession, person: Person | None, deps: Deps) -> bool:
    """True when the person's email or AAD object id is in PLANBOT_ADMINS or `planbot admin`."""
    if person is None:
        return False
    ids = {(person.email or "").lower(), (person.aad_object_id or "").lower()} - {""}
    if ids & deps.admins:
        return True
    return bool(ids) and (await session.execute(
        select(Admin.id).where(Admin.key.in_(ids)).limit(1))).scalar() is not None


def update_key(checkin_id: int, answer: ActionAnswer) -> str:
    """Idempotency key: the same answer on the same card is stored once (double clicks)."""
    parts = [answer.rag, answer.progress, answer.evidence, answer.blockers]
    if answer.corrective_action or answer.next_review:  # keys made before issue 8 stay the same
        parts += [answer.corrective_action, answer.next_review]
    content = "\x1f".join(str(part) for part in parts)
    digest = hashlib.sha256(content.encode()).hexdigest()[:24]
    return f"checkin:{checkin_id}:{answer.action_id}:{digest}"


def _changed(answer: ActionAnswer, action: Action) -> bool:
    """True when the answer says something new; "No change" with a note still keeps the note."""
    if (answer.progress or answer.evidence or answer.blockers or answer.corrective_action
            or answer.next_review):
        return True
    return not answer.no_change and bool(answer.rag and answer.rag != action.rag)


def _token(data: dict) -> str | None:
    token = data.get("token")
    return token if isinstance(token, str) and token and len(token) <= 64 else None


async def card_context(session: AsyncSession, data: dict
                       ) -> tuple[Checkin, CheckinRound, Plan, Person] | None:
    """The check-in a card's opaque token names (None for a stale or forged one), with its
    round, plan and lead, in one query."""
    token = _token(data)
    if token is None:
        return None
    row = (await session.execute(
        select(Checkin, CheckinRound, Plan, Person)
        .join(CheckinRound, CheckinRound.id == Checkin.round_id)
        .join(Plan, Plan.id == CheckinRound.plan_id)
        .join(Person, Person.id == Checkin.person_id)
        .where(Checkin.token == token))).first()
    return None if row is None else tuple(row)


async def _may_update(session: AsyncSession, actor: Person, lead: Person, deps: Deps) -> bool:
    """The lead, the lead's delegate or a plan admin (decided from stored data, not the card)."""
    if actor.id == lead.id or lead.delegate_id == actor.id:
        return True
    return await is_admin(session, actor, deps)


async def _store(session: AsyncSession, answer: ActionAnswer, action: Action, actor: Person,
                 now: datetime, key: str) -> None:
    rag = (action.rag if answer.no_change else answer.rag) or action.rag
    await record_update(session=session, action=action, source="card", at=now,
                        rag=rag, progress=answer.progress,
                        evidence=answer.evidence, blockers=answer.blockers,
                        corrective_action=answer.corrective_action,
                        next_review=answer.next_review,
                        by_name=actor.display_name, by_person_id=actor.id,
                        idempotency_key=key)


async def _stored_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these idempotency keys are stored already (one query for the whole card)."""
    if not keys:
        return set()
    return set((await session.execute(select(StatusUpdate.idempotency_key).where(
        StatusUpdate.idempotency_key.in_(keys)))).scalars())


async def recorded_view(session: AsyncSession, checkin: Checkin, plan: Plan, lead: Person,
                        label: str, tz: str, actions: list[Action] | None = None) -> RecordedView:
    """What was stored from this card, for the read-only 'recorded' card.

    actions: the card's actions in plan order, when the caller has them loaded already."""
    ids = _card_ids(checkin)
    if actions is None:
        actions = await _card_actions(session, ids)
    # The newest update from this card per action (built in SQL: a card answered many times
    # must not load its whole history to show the last answers).
    latest = (select(func.max(StatusUpdate.id))
              .where(StatusUpdate.action_id.in_(ids),
                     StatusUpdate.idempotency_key.like(f"checkin:{checkin.id}:%"))
              .group_by(StatusUpdate.action_id))
    updates = {u.action_id: u for u in (await session.execute(
        select(StatusUpdate).where(StatusUpdate.id.in_(latest)))).scalars()}
    when = checkin.answered_at.astimezone(ZoneInfo(tz)) if checkin.answered_at else None
    items = []
    for action in actions:
        stored = updates.get(action.id)
        items.append(RecordedActionView(
            ref=action.ref, title=action.text, rag=stored.rag if stored else action.rag,
            no_change=stored is None, progress=stored.progress if stored else None,
            evidence=stored.evidence if stored else None,
            blockers=stored.blockers if stored else None,
            corrective_action=stored.corrective_action if stored else None,
            next_review=stored.next_review if stored else None))
    by = next((u.by_name for u in updates.values() if u.by_name), None)
    return RecordedView(lead_name=lead.display_name, plan_name=plan.name, period_label=label,
                        recorded_at_label=f"{when.day} {when:%B %Y at %H:%M}" if when else "",
                        actions=items, by_name=by)


def _card_ids(checkin: Checkin) -> list[int]:
    return [int(part) for part in checkin.action_ids.split(",") if part]


async def _card_actions(session: AsyncSession, ids: list[int]) -> list[Action]:
    """The card's actions in plan order."""
    return list((await session.execute(select(Action).where(Action.id.in_(ids))
                                       .order_by(Action.position))).scalars())


async def _rejected(session, checkin, plan, lead, label, today, error: SubmitInvalid,
                    data: dict) -> Reply:
    view = await card_view(session, checkin, plan=plan, lead=lead, label=label, today=today,
                           banner=f"Nothing was saved yet: {error}")
    refs = {action.action_id: action.ref for action in view.actions}
    view.errors = {key: f"{refs.get(key, '')}: {message}".lstrip(": ")
                   for key, message in error.errors.items() if key is not None}
    view.values = {key: value for key, value in data.items() if isinstance(value, str)}
    return Reply(cards=[checkin_card(view)], replace=True)


@router.verb("checkin.submit")
async def submit(turn: Turn, deps: Deps) -> Reply:
    """Store a submitted check-in card and answer with the read-only 'recorded' card."""
    try:
        return await _submit(turn, deps)
    except IntegrityError:
        # The same answer committed by a concurrent request (a double click reaching two
        # replicas at once): its key is stored now, so a second pass finds it and only answers.
        log.info("concurrent submit of the same check-in answer; reading it back")
        return await _submit(turn, deps)


async def _submit(turn: Turn, deps: Deps) -> Reply:
    data = turn.value or {}
    now = deps.clock()
    today = deps.today()
    async with deps.sessions() as session, session.begin():
        found = await card_context(session, data)
        if found is None:
            return Reply(text=OUT_OF_DATE)
        checkin, round_, plan, lead = found
        label = period_label(round_.period, round_.started_at, deps.timezone)
        actor = await acting_person(session, turn, expected=lead)
        if actor is None or not await _may_update(session, actor, lead, deps):
            log.warning("refused check-in %s submitted by %s", checkin.id, turn.user_aad_id)
            return Reply(text=f"Only {lead.display_name}, their delegate or a plan admin can "
                              "update these actions. Nothing was changed.")
        card_actions = await _card_actions(session, _card_ids(checkin))
        by_id = {action.id: action for action in card_actions}
        try:
            parsed = CheckinSubmit.from_card_data(
                data, stored_rags={key: action.rag for key, action in by_id.items()},
                today=today)
        except SubmitInvalid as error:
            return await _rejected(session, checkin, plan, lead, label, today, error, data)
        asked = {answer.action_id for answer in parsed.answers}
        if not asked <= by_id.keys():
            log.warning("check-in %s: actions %s are not on the card", checkin.id,
                        sorted(asked - by_id.keys()))
            return Reply(text="That answer names actions that were not on your card. Nothing "
                              "was changed.")
        changed = [answer for answer in parsed.answers
                   if _changed(answer, by_id[answer.action_id])]
        wanted = {answer.action_id for answer in changed}
        allowed = await led_by(session=session, action_ids=wanted, people=[lead])
        if allowed != wanted and await is_admin(session, actor, deps):
            allowed = wanted  # an admin may answer every action on the card
        # An action reassigned since the card was sent is not theirs to update any more.
        to_store = [(answer, update_key(checkin.id, answer)) for answer in changed
                    if answer.action_id in allowed]
        stored = await _stored_keys(session, [key for _, key in to_store])
        for answer, key in to_store:
            if key not in stored:  # else stored already (a double click or a Teams retry)
                await _store(session, answer, by_id[answer.action_id], actor, now, key)
        if checkin.status != "answered":
            checkin.status, checkin.answered_at = "answered", now
            session.add(checkin)
        await session.flush()
        view = await recorded_view(session, checkin, plan, lead, label, deps.timezone,
                                   actions=card_actions)
    return Reply(cards=[recorded_card(view)], replace=True)


@router.verb("checkin.refresh")
async def refresh(turn: Turn, deps: Deps) -> Reply:
    """Teams asks for the card's current state: the recorded card once answered."""
    async with deps.sessions() as session:
        found = await card_context(session, turn.value or {})
        if found is None:
            return Reply(text=OUT_OF_DATE)
        checkin, round_, plan, lead = found
        label = period_label(round_.period, round_.started_at, deps.timezone)
        if checkin.status == "answered":
            view = await recorded_view(session, checkin, plan, lead, label, deps.timezone)
            return Reply(cards=[recorded_card(view)], replace=True)
        today = deps.today()
        view = await card_view(session, checkin, plan=plan, lead=lead, label=label, today=today)
        return Reply(cards=[checkin_card(view)], replace=True)
