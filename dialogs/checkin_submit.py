"""Answering a check-in card: authorisation against stored assignments, validation, history."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cards.checkin import RecordedActionView, RecordedView, checkin_card, recorded_card
from dialogs.checkin import card_view, period_label
from dialogs.checkin_payload import ActionAnswer, CheckinSubmit, SubmitInvalid
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.models import Action, Admin, Checkin, CheckinRound, Person, Plan, StatusUpdate
from storage.people import linked_people
from storage.updates import record_update

log = logging.getLogger(__name__)
router = Router()
OUT_OF_DATE = ("This check-in card is out of date or was not made by me. Your next card comes "
               "with the weekly round; type 'help' to see what I can do.")


async def acting_person(session: AsyncSession, turn: Turn) -> Person | None:
    """The Person behind this turn, found by AAD object id, then Teams user id."""
    for column, value in ((Person.aad_object_id, turn.user_aad_id),
                          (Person.teams_user_id, turn.user_id)):
        if value:
            person = (await session.execute(select(Person).where(column == value))).scalar()
            if person is not None:
                return person
    return None


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


async def checkin_by_token(session: AsyncSession, data: dict) -> Checkin | None:
    """The Checkin a card's data names by its opaque token (None for a stale or forged one)."""
    token = data.get("token")
    if not isinstance(token, str) or not token or len(token) > 64:
        return None
    return (await session.execute(select(Checkin).where(Checkin.token == token))).scalar()


async def _context(session: AsyncSession, checkin: Checkin):
    round_ = await session.get(CheckinRound, checkin.round_id)
    plan = await session.get(Plan, round_.plan_id)
    lead = await session.get(Person, checkin.person_id)
    return round_, plan, lead


async def _may_update(session: AsyncSession, actor: Person, lead: Person, deps: Deps) -> bool:
    """The lead, the lead's delegate or a plan admin (decided from stored data, not the card)."""
    if actor.id == lead.id or lead.delegate_id == actor.id:
        return True
    return await is_admin(session, actor, deps)


async def _still_led_by(session: AsyncSession, plan_id: int, action_ids: set[int],
                        person_id: int) -> set[int]:
    """Of these actions, the ones the person leads now (the stored assignment, not the card)."""
    leads = await linked_people(session=session, plan_id=plan_id, action_ids=action_ids)
    return {action_id for action_id in action_ids if person_id in leads.get(action_id, [])}


async def _store(session: AsyncSession, checkin: Checkin, answer: ActionAnswer, action: Action,
                 actor: Person, now: datetime) -> None:
    key = update_key(checkin.id, answer)
    exists = await session.execute(select(StatusUpdate.id).where(
        StatusUpdate.idempotency_key == key))
    if exists.scalar() is not None:
        return  # the same answer was stored already (double click or Teams retry)
    rag = (action.rag if answer.no_change else answer.rag) or action.rag
    try:
        async with session.begin_nested():
            await record_update(session=session, action=action, source="card", at=now,
                                rag=rag, progress=answer.progress,
                                evidence=answer.evidence, blockers=answer.blockers,
                                corrective_action=answer.corrective_action,
                                next_review=answer.next_review,
                                by_name=actor.display_name, by_person_id=actor.id,
                                idempotency_key=key)
    except IntegrityError:
        log.info("duplicate submit of check-in %s ignored", checkin.id)


async def recorded_view(session: AsyncSession, checkin: Checkin, plan: Plan, lead: Person,
                        label: str, tz: str) -> RecordedView:
    """What was stored from this card, for the read-only 'recorded' card."""
    ids = [int(part) for part in checkin.action_ids.split(",") if part]
    actions = (await session.execute(select(Action).where(Action.id.in_(ids))
                                     .order_by(Action.position))).scalars().all()
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
    data = turn.value or {}
    now = deps.clock()
    today = deps.today()
    async with deps.sessions() as session, session.begin():
        checkin = await checkin_by_token(session, data)
        if checkin is None:
            return Reply(text=OUT_OF_DATE)
        round_, plan, lead = await _context(session, checkin)
        label = period_label(round_.period, round_.started_at, deps.timezone)
        actor = await acting_person(session, turn)
        if actor is None or not await _may_update(session, actor, lead, deps):
            log.warning("refused check-in %s submitted by %s", checkin.id, turn.user_aad_id)
            return Reply(text=f"Only {lead.display_name}, their delegate or a plan admin can "
                              "update these actions. Nothing was changed.")
        on_card = {int(part) for part in checkin.action_ids.split(",") if part}
        stored_rags = dict((await session.execute(select(Action.id, Action.rag).where(
            Action.id.in_(on_card)))).all())
        try:
            parsed = CheckinSubmit.from_card_data(data, stored_rags=stored_rags, today=today)
        except SubmitInvalid as error:
            return await _rejected(session, checkin, plan, lead, label, today, error, data)
        asked = {answer.action_id for answer in parsed.answers}
        if not asked <= on_card:
            log.warning("check-in %s: actions %s are not on the card", checkin.id,
                        sorted(asked - on_card))
            return Reply(text="That answer names actions that were not on your card. Nothing "
                              "was changed.")
        allowed = (on_card if await is_admin(session, actor, deps)
                   else await _still_led_by(session, plan.id, asked, lead.id))
        actions = {a.id: a for a in (await session.execute(
            select(Action).where(Action.id.in_(asked)))).scalars()}
        for answer in parsed.answers:
            if answer.action_id not in allowed:
                continue  # reassigned since the card was sent: not theirs to update any more
            if _changed(answer, actions[answer.action_id]):
                await _store(session, checkin, answer, actions[answer.action_id], actor, now)
        if checkin.status != "answered":
            checkin.status, checkin.answered_at = "answered", now
            session.add(checkin)
        await session.flush()
        view = await recorded_view(session, checkin, plan, lead, label, deps.timezone)
    return Reply(cards=[recorded_card(view)], replace=True)


@router.verb("checkin.refresh")
async def refresh(turn: Turn, deps: Deps) -> Reply:
    """Teams asks for the card's current state: the recorded card once answered."""
    async with deps.sessions() as session:
        checkin = await checkin_by_token(session, turn.value or {})
        if checkin is None:
            return Reply(text=OUT_OF_DATE)
        round_, plan, lead = await _context(session, checkin)
        label = period_label(round_.period, round_.started_at, deps.timezone)
        if checkin.status == "answered":
            view = await recorded_view(session, checkin, plan, lead, label, deps.timezone)
            return Reply(cards=[recorded_card(view)], replace=True)
        today = deps.today()
        view = await card_view(session, checkin, plan=plan, lead=lead, label=label, today=today)
        return Reply(cards=[checkin_card(view)], replace=True)
