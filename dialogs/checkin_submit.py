"""Answering a check-in card: the turn (who, which card), validation, storing what was decided
(dialogs.checkin_answers), and the reply: the receipt, the card again, or a question back."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cards.checkin import (
    RecordedActionView,
    RecordedView,
    checkin_card,
    not_yours_card,
    recorded_card,
)
from cards.common import and_list
from dialogs.auth import acting_person, answerable, is_admin, may_answer_for
from dialogs.checkin import card_view, period_label
from dialogs.checkin_answers import (
    Sorted,
    latest_updates,
    newer_checkin,
    refused_notice,
    shown_updates,
    sort_answers,
    stored_keys,
    update_key,
)
from dialogs.checkin_payload import ActionAnswer, CheckinSubmit, SubmitInvalid, read_seen
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.models import (
    Action,
    Checkin,
    CheckinRound,
    Person,
    Plan,
    StatusUpdate,
    as_utc,
)
from storage.rules import short_date
from storage.updates import record_update

log = logging.getLogger(__name__)
router = Router()
OUT_OF_DATE = ("This check-in card is out of date or was not made by me. Your next card comes "
               "with the weekly round; type 'help' to see what I can do.")


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


async def _store(session: AsyncSession, answer: ActionAnswer, action: Action, actor: Person,
                 now: datetime, key: str, *, rag_changed: bool) -> None:
    await record_update(session=session, action=action, source="card", at=now,
                        rag=answer.rag if rag_changed else None, keep_rag=not rag_changed,
                        progress=answer.progress,
                        evidence=answer.evidence, blockers=answer.blockers,
                        corrective_action=answer.corrective_action,
                        next_review=answer.next_review,
                        by_name=actor.display_name, by_person_id=actor.id,
                        idempotency_key=key)


async def recorded_view(session: AsyncSession, checkin: Checkin, plan: Plan, lead: Person,
                        label: str, tz: str, actions: list[Action] | None = None,
                        notices: list[str] | None = None,
                        leave_out: Collection[int] = ()) -> RecordedView:
    """What was stored from this card, for the read-only 'recorded' card: the card's actions
    and any other action answered under this check-in (an older card recorded with it).

    actions: the card's actions in plan order, when the caller has them loaded already.
    leave_out: actions not to list (answers that were refused; the notices say why)."""
    # The newest update from this check-in per action (built in SQL: a card answered many
    # times must not load its whole history to show the last answers).
    latest = (select(func.max(StatusUpdate.id))
              .where(StatusUpdate.idempotency_key.like(f"checkin:{checkin.id}:%"))
              .group_by(StatusUpdate.action_id))
    updates = {u.action_id: u for u in (await session.execute(
        select(StatusUpdate).where(StatusUpdate.id.in_(latest)))).scalars()}
    if actions is None:
        actions = await _card_actions(session, _card_ids(checkin))
    extra = set(updates) - {action.id for action in actions}
    if extra:
        actions = sorted([*actions, *await _card_actions(session, list(extra))],
                         key=lambda action: action.position)
    when = checkin.answered_at.astimezone(ZoneInfo(tz)) if checkin.answered_at else None
    items = []
    for action in actions:
        if action.id in leave_out and action.id not in updates:
            continue
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
                        actions=items, by_name=by, notices=notices or [])


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


async def _conflict_reply(session: AsyncSession, checkin: Checkin, plan: Plan, lead: Person,
                          label: str, today: date, decided: Sorted, by_id: dict[int, Action],
                          tz: str) -> Reply:
    """Ask back about actions whose RAG changed after the card was made: the card again with
    only those actions, showing their RAG now, what was typed kept, and one question each."""
    view = await card_view(session, checkin, plan=plan, lead=lead, label=label, today=today)
    newest = {answer.action_id: (answer, update) for answer, update in decided.conflicts}
    view.actions = [action for action in view.actions if action.action_id in newest]
    questions = []
    for action in view.actions:
        answer, update = newest[action.action_id]
        now_rag = (update.rag or "no RAG").title()
        when = short_date(as_utc(update.at).astimezone(ZoneInfo(tz)).date())
        questions.append(f"{action.ref} was set to {now_rag} by {update.by_name or 'someone'} "
                         f"on {when}, after this card was made: keep {now_rag} or set "
                         f"{(answer.rag or '').title()}?")
        typed = {"progress": answer.progress, "evidence": answer.evidence,
                 "blockers": answer.blockers, "corrective": answer.corrective_action,
                 "review": answer.next_review.isoformat() if answer.next_review else None}
        view.values.update({f"{name}_{action.action_id}": value
                            for name, value in typed.items() if value})
    saved_ids = {answer.action_id for answer, _, _ in decided.store} | set(decided.repeated)
    saved = [by_id[action_id].ref for action_id in sorted(
        saved_ids, key=lambda action_id: by_id[action_id].position)]
    view.banner = " ".join([f"Saved {and_list(saved)}." if saved else "Nothing was saved yet.",
                            *questions, "Choose below (it shows the RAG now) and press Send."])
    return Reply(cards=[checkin_card(view)], replace=True)


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
        admin = await is_admin(session, actor, deps)
        if actor is None or not may_answer_for(actor, lead, admin=admin):
            log.warning("refused check-in %s submitted by %s", checkin.id, turn.user_aad_id)
            return Reply(text=f"Only {lead.display_name}, their delegate or a plan admin can "
                              "update these actions. Nothing was changed.")
        card_actions = await _card_actions(session, _card_ids(checkin))
        by_id = {action.id: action for action in card_actions}
        try:
            shown = await shown_updates(session, checkin, round_, list(by_id), read_seen(data))
            parsed = CheckinSubmit.from_card_data(
                data, stored_rags={key: (update.rag if update else None)
                                   for key, update in shown.items()}, today=today)
        except SubmitInvalid as error:
            return await _rejected(session, checkin, plan, lead, label, today, error, data)
        asked = {answer.action_id for answer in parsed.answers}
        if not asked <= by_id.keys():
            log.warning("check-in %s: actions %s are not on the card", checkin.id,
                        sorted(asked - by_id.keys()))
            return Reply(text="That answer names actions that were not on your card. Nothing "
                              "was changed.")
        # A card of an earlier round answered once the next has begun is this week's answer:
        # recorded with the lead's current check-in, so they are not chased for it.
        target, target_label, notices = checkin, label, []
        newer = await newer_checkin(session, checkin, round_)
        if newer is not None:
            target = newer[0]
            target_label = period_label(newer[1].period, newer[1].started_at, deps.timezone)
            notices.append(f"This card was from the {label}; your answers are recorded with "
                           f"this week's check-in ({target_label}).")
        allowed = await answerable(session, actor=actor, for_person=lead, action_ids=asked,
                                   admin=admin)
        keys = [update_key(target.id, answer) for answer in parsed.answers]
        decided = sort_answers(parsed, by_id, shown, await latest_updates(session, list(asked)),
                               allowed, await stored_keys(session, keys), target, actor)
        for answer, key, rag_moved in decided.store:
            await _store(session, answer, by_id[answer.action_id], actor, now, key,
                         rag_changed=rag_moved)
        if decided.answered and target.status != "answered":
            target.status, target.answered_at = "answered", now
            session.add(target)
        await session.flush()
        if decided.conflicts:
            return await _conflict_reply(session, checkin, plan, lead, label, today, decided,
                                         by_id, deps.timezone)
        if decided.refused:
            notices.append(refused_notice(decided.refused, lead))
        view = await recorded_view(session, target, plan, lead, target_label, deps.timezone,
                                   actions=card_actions if target is checkin else None,
                                   notices=notices,
                                   leave_out={action.id for action in decided.refused})
    return Reply(cards=[recorded_card(view)], replace=True)


@router.verb("checkin.refresh")
async def refresh(turn: Turn, deps: Deps) -> Reply:
    """Teams asks for the card's current state: the recorded card once answered."""
    async with deps.sessions() as session:
        found = await card_context(session, turn.value or {})
        if found is None:
            return Reply(text=OUT_OF_DATE)
        checkin, round_, plan, lead = found
        actor = await acting_person(session, turn, expected=lead)
        if actor is None or not may_answer_for(
                actor, lead, admin=await is_admin(session, actor, deps)):
            log.warning("refused refresh of check-in %s for %s", checkin.id, turn.user_aad_id)
            return Reply(cards=[not_yours_card(lead.display_name)], replace=True)
        label = period_label(round_.period, round_.started_at, deps.timezone)
        if checkin.status == "answered":
            view = await recorded_view(session, checkin, plan, lead, label, deps.timezone)
            return Reply(cards=[recorded_card(view)], replace=True)
        today = deps.today()
        view = await card_view(session, checkin, plan=plan, lead=lead, label=label, today=today)
        return Reply(cards=[checkin_card(view)], replace=True)
