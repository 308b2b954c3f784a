"""Weekly check-in rounds: who gets a card with which actions, chasers and the owner's escalation.

Nothing here sends: every card becomes an Outbox row in the caller's transaction, so a round and
its cards commit together and the sender delivers each exactly once.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cards.checkin import CheckinActionView, CheckinView, MissingView, checkin_card, missing_card
from cards.common import CONTENT_TYPE
from storage.models import (
    Action,
    Checkin,
    CheckinRound,
    CheckinSchedule,
    ConversationRef,
    Outbox,
    Person,
    Plan,
    StatusUpdate,
    Theme,
)
from storage.outbox import enqueue
from storage.people import lead_report, led_by, linked_people
from storage.rules import is_overdue, long_date, parse_rag
from storage.schedule import parse_slot

log = logging.getLogger(__name__)
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CARD_LIMIT = 15  # actions per card; the rest come next week


@dataclass
class RoundReport:
    """What starting a round did."""

    round_id: int
    period: str
    created: bool
    queued: list[str] = field(default_factory=list)  # lead names whose card is queued
    unreachable: list[str] = field(default_factory=list)  # linked, but never talked to the bot
    away: list[str] = field(default_factory=list)  # on leave with no delegate
    # on leave with a delegate: "Karen Dolton (away until 11 December 2026): card to Bob Jones"
    delegated: list[str] = field(default_factory=list)
    unlinked: list[str] = field(default_factory=list)  # lead names with no Teams user yet


def message_with_card(card: dict, summary: str) -> dict:
    """A Bot Framework message activity (JSON) carrying one Adaptive Card."""
    return {"type": "message", "summary": summary,
            "attachments": [{"contentType": CONTENT_TYPE, "content": card}]}


def period_label(period: str, started: datetime, tz: str) -> str:
    """'week of 23 November 2026' for the week a round started in."""
    local = started.astimezone(ZoneInfo(tz)).date()
    monday = date.fromordinal(local.toordinal() - local.weekday())
    return f"week of {long_date(monday)}"


async def _open_actions_by_person(session: AsyncSession, plan_id: int) -> dict[int, list[Action]]:
    """Every linked person's open actions (all people of a shared lead cell count)."""
    leads = await linked_people(session=session, plan_id=plan_id)
    actions = (await session.execute(
        select(Action).where(Action.plan_id == plan_id, Action.id.in_(leads),
                             or_(Action.rag.is_(None), Action.rag != "blue"))
        .order_by(Action.position))).scalars().all()
    result: dict[int, list[Action]] = {}
    for action in actions:
        for person_id in leads[action.id]:
            result.setdefault(person_id, []).append(action)
    return result


async def unlinked_leads(*, session: AsyncSession, plan_id: int) -> list[str]:
    """The plan's leads (people, initials or job titles) not yet linked to a Teams user."""
    report = await lead_report(session=session, plan_id=plan_id, suggestions=False)
    return sorted(entry.lead for entry in report.entries if entry.person_id is None)


async def personal_conversation(session: AsyncSession, person_id: int) -> str | None:
    """The 1:1 chat with a person, if they ever installed or talked to the bot."""
    row = await session.execute(
        select(ConversationRef.conversation_id)
        .where(ConversationRef.person_id == person_id, ConversationRef.kind == "personal")
        .order_by(ConversationRef.updated_at.desc()).limit(1))
    return row.scalar_one_or_none()


async def action_views(session: AsyncSession, actions: list[Action],
                       today: date) -> list[CheckinActionView]:
    """What a check-in card shows for each action: due, last RAG and last progress note."""
    ids = [action.id for action in actions]
    themes = dict((await session.execute(select(Theme.id, Theme.name).where(
        Theme.id.in_({a.theme_id for a in actions if a.theme_id})))).all()) if ids else {}
    latest: dict[int, StatusUpdate] = {}
    if ids:
        updates = await session.execute(
            select(StatusUpdate).where(StatusUpdate.action_id.in_(ids))
            .order_by(StatusUpdate.at.desc(), StatusUpdate.id.desc()))
        for row in updates.scalars():
            latest.setdefault(row.action_id, row)
    views = []
    for action in actions:
        last = latest.get(action.id)
        views.append(CheckinActionView(
            action_id=action.id, ref=action.ref, title=action.text,
            theme=themes.get(action.theme_id), due_text=action.due_text,
            due_date=action.due_date,
            overdue=is_overdue(action.due_date, parse_rag(action.rag), today),
            last_rag=action.rag,
            last_progress=next((u.progress for u in [last] if u and u.progress), None),
            last_update_at=last.at.date() if last else None,
            last_update_id=last.id if last else 0))
    return views


async def card_view(session: AsyncSession, checkin: Checkin, *, plan: Plan, lead: Person,
                    label: str, today: date, banner: str | None = None,
                    not_shown: int = 0) -> CheckinView:
    """The check-in card's view for one stored Checkin."""
    ids = [int(part) for part in checkin.action_ids.split(",") if part]
    actions = (await session.execute(select(Action).where(Action.id.in_(ids)))).scalars().all()
    ordered = sorted(actions, key=lambda action: action.position)
    return CheckinView(token=checkin.token, lead_name=lead.display_name, plan_name=plan.name,
                       period_label=label, actions=await action_views(session, ordered, today),
                       user_mri=lead.teams_user_id, banner=banner, not_shown=not_shown,
                       standing_in=await standing_in(session, lead, ordered, today))


async def standing_in(session: AsyncSession, delegate: Person, actions: list[Action],
                      today: date) -> list[str]:
    """For a delegate's card: whose actions on it they answer while those leads are away,
    "Karen Dolton (away until 11 December 2026): 4c, 4d"."""
    away = (await session.execute(select(Person).where(
        Person.delegate_id == delegate.id, Person.away_until >= today)
        .order_by(Person.display_name))).scalars().all()
    lines = []
    for person in away:
        theirs = await led_by(session=session, action_ids=[a.id for a in actions],
                              people=[person])
        refs = [action.ref for action in actions if action.id in theirs]
        if refs:
            lines.append(f"{person.display_name} (away until {long_date(person.away_until)}): "
                         + ", ".join(refs))
    return lines


async def _get_or_create_round(session: AsyncSession, plan: Plan, period: str,
                               now: datetime) -> tuple[CheckinRound, bool]:
    statement = select(CheckinRound).where(CheckinRound.plan_id == plan.id,
                                           CheckinRound.period == period)
    existing = (await session.execute(statement)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            row = CheckinRound(plan_id=plan.id, period=period, started_at=now)
            session.add(row)
    except IntegrityError:  # another replica started it first
        return (await session.execute(statement)).scalar_one(), False
    return row, True


async def start_round(*, session: AsyncSession, plan: Plan, period: str, now: datetime,
                      tz: str) -> RoundReport:
    """Start a plan's round for a period: one Checkin and one queued card per lead.

    Running it again in the same period only reaches leads who have no card in it yet (for
    example a lead linked since), so nobody gets the same week's card twice.
    """
    round_, created = await _get_or_create_round(session, plan, period, now)
    report = RoundReport(round_id=round_.id, period=period, created=created)
    today = now.astimezone(ZoneInfo(tz)).date()
    label = period_label(period, round_.started_at, tz)
    already = set((await session.execute(select(Checkin.person_id).where(
        Checkin.round_id == round_.id))).scalars())
    by_person = await _open_actions_by_person(session, plan.id)
    people = {p.id: p for p in (await session.execute(
        select(Person).where(Person.id.in_(by_person)))).scalars()}
    recipients: dict[int, list[Action]] = {}
    for person_id, actions in by_person.items():
        person = people[person_id]
        target = person_id
        if person.away_until is not None and person.away_until >= today:
            if person.delegate_id is None:
                report.away.append(person.display_name)
                continue
            target = person.delegate_id
            delegate = people.get(target) or await session.get(Person, target)
            report.delegated.append(f"{person.display_name} (away until "
                                    f"{long_date(person.away_until)}): card to "
                                    f"{delegate.display_name if delegate else 'their delegate'}")
        bucket = recipients.setdefault(target, [])
        bucket.extend(action for action in actions if action not in bucket)
    missing = set(recipients) - set(people)
    if missing:
        people.update({p.id: p for p in (await session.execute(
            select(Person).where(Person.id.in_(missing)))).scalars()})
    for person_id, actions in recipients.items():
        if person_id not in already:
            await _queue_card(session, round_, plan, people[person_id], actions, label, today,
                              now, report)
    report.unlinked = await unlinked_leads(session=session, plan_id=plan.id)
    return report


async def _queue_card(session, round_, plan, person: Person, actions: list[Action], label,
                      today, now, report: RoundReport) -> None:
    # The longest-unupdated first: a lead with more than CARD_LIMIT actions sees the rest in
    # the following weeks (and can update any action by chat meanwhile).
    oldest = datetime.min.replace(tzinfo=now.tzinfo)
    not_shown = max(0, len(actions) - CARD_LIMIT)
    actions = sorted(actions, key=lambda a: (a.last_update_at or oldest, a.position))[:CARD_LIMIT]
    actions.sort(key=lambda action: action.position)
    conversation = await personal_conversation(session, person.id)
    checkin = Checkin(round_id=round_.id, person_id=person.id,
                      token=secrets.token_urlsafe(16),
                      action_ids=",".join(str(action.id) for action in actions),
                      status="pending" if conversation else "unreachable",
                      conversation_id=conversation)
    try:
        async with session.begin_nested():
            session.add(checkin)
    except IntegrityError:  # another replica queued this lead's card first
        return
    if conversation is None:
        report.unreachable.append(person.display_name)
        return
    view = await card_view(session, checkin, plan=plan, lead=person, label=label, today=today,
                           not_shown=not_shown)
    await enqueue(session=session, key=f"checkin:{round_.id}:{person.id}", kind="checkin",
                  conversation_id=conversation, now=now, checkin_id=checkin.id,
                  activity=message_with_card(checkin_card(view),
                                             f"Weekly check-in: {plan.name}"))
    report.queued.append(person.display_name)


async def _still_theirs(session: AsyncSession, plan_id: int, rows: list,
                        open_by_person: dict[int, list[Action]] | None = None) -> list:
    """The (checkin, person) rows whose card still holds an open action the person leads or
    stands in for: nobody is chased for actions unlinked from them, reassigned or made Blue."""
    if not rows:
        return rows
    if open_by_person is None:
        open_by_person = await _open_actions_by_person(session, plan_id)
    delegators: dict[int, list[int]] = {}
    for person_id, delegate_id in (await session.execute(select(Person.id, Person.delegate_id)
                                                          .where(Person.delegate_id.is_not(None)))):
        delegators.setdefault(delegate_id, []).append(person_id)
    kept = []
    for checkin, person in rows:
        theirs = {action.id for pid in (person.id, *delegators.get(person.id, ()))
                  for action in open_by_person.get(pid, ())}
        if theirs & {int(part) for part in checkin.action_ids.split(",") if part}:
            kept.append((checkin, person))
    return kept


async def claim_step(*, session: AsyncSession, round_id: int, flag: str) -> bool:
    """Mark one scheduled step of a round done; True only for the one caller that did it."""
    column = getattr(CheckinRound, flag)
    result = await session.execute(update(CheckinRound).where(
        and_(CheckinRound.id == round_id, column.is_(False))).values({flag: True}))
    return result.rowcount == 1


async def chase(*, session: AsyncSession, round_id: int, number: int, now: datetime,
                tz: str) -> list[str]:
    """Queue reminder number 1 or 2 to every lead who has not answered; returns their names."""
    round_ = await session.get(CheckinRound, round_id)
    plan = await session.get(Plan, round_.plan_id)
    today = now.astimezone(ZoneInfo(tz)).date()
    label = period_label(round_.period, round_.started_at, tz)
    refused = (select(Outbox.id).where(Outbox.checkin_id == Checkin.id, Outbox.kind == "checkin",
                                       Outbox.status == "failed").exists())
    waiting = (await session.execute(select(Checkin, Person).join(
        Person, Person.id == Checkin.person_id).where(
        Checkin.round_id == round_id, Checkin.status.in_(("pending", "sent")),
        ~refused))).all()  # no reminders where Teams refused the card for good (403, 404)
    waiting = await _still_theirs(session, plan.id, waiting)
    chased = []
    for checkin, person in waiting:
        banner = ("Reminder: your weekly check-in is still waiting for an answer."
                  if number == 1 else "Second reminder: please answer this week's check-in; "
                  "the plan owner will see who has not answered.")
        view = await card_view(session, checkin, plan=plan, lead=person, label=label,
                               today=today, banner=banner)
        queued = await enqueue(
            session=session, key=f"chaser{number}:{round_id}:{person.id}", kind="chaser",
            conversation_id=checkin.conversation_id, now=now, checkin_id=checkin.id,
            activity=message_with_card(checkin_card(view), f"Reminder: {plan.name} check-in"))
        if queued:
            checkin.chasers_sent = number
            session.add(checkin)
            chased.append(person.display_name)
    return chased


async def _unreachable(session: AsyncSession, round_id: int) -> list[tuple[str, str]]:
    """Leads whose card of this round could not be delivered for good (Teams 403: the bot was
    blocked or removed, or they left; 404: the chat is gone), with the reason in plain words."""
    rows = (await session.execute(
        select(Person.display_name, Outbox.last_error)
        .join(Checkin, Checkin.person_id == Person.id)
        .join(Outbox, Outbox.checkin_id == Checkin.id)
        .where(Checkin.round_id == round_id, Outbox.kind == "checkin",
               Outbox.status == "failed")
        .order_by(Person.display_name))).all()
    return [(name, _why_unreachable(error or "")) for name, error in rows]


def _why_unreachable(error: str) -> str:
    if "403" in error:
        return "blocked or removed planbot, or left the organisation"
    if "404" in error:
        return "their chat with planbot no longer exists"
    return "the card could not be delivered"


async def escalate(*, session: AsyncSession, round_id: int, now: datetime, tz: str) -> bool:
    """Queue the 'who has not answered' card to the plan owner; False when there is no owner."""
    round_ = await session.get(CheckinRound, round_id)
    plan = await session.get(Plan, round_.plan_id)
    rows = (await session.execute(select(Checkin, Person).join(
        Person, Person.id == Checkin.person_id).where(Checkin.round_id == round_id))).all()
    open_by_person = await _open_actions_by_person(session, plan.id)
    unanswered = await _still_theirs(session, plan.id, [
        (checkin, person) for checkin, person in rows if checkin.status != "answered"],
        open_by_person)
    missing = [(person.display_name, len(open_by_person.get(person.id, [])))
               for checkin, person in unanswered]
    answered = sum(1 for checkin, _ in rows if checkin.status == "answered")
    owner_conversation = (await personal_conversation(session, plan.owner_person_id)
                          if plan.owner_person_id else None)
    if owner_conversation is None:
        log.warning("plan %s has no owner the bot can reach; escalation of round %s skipped",
                    plan.slug, round_id)
        return False
    schedule = (await session.execute(select(CheckinSchedule).where(
        CheckinSchedule.plan_id == plan.id))).scalar_one_or_none()
    days = ([_DAY_NAMES[parse_slot(slot).weekday] for slot in
             (schedule.first_chaser_at, schedule.second_chaser_at)] if schedule else [])
    view = MissingView(plan_name=plan.name, missing=missing, answered=answered, total=len(rows),
                       period_label=period_label(round_.period, round_.started_at, tz),
                       reminder_days=days, unreachable=await _unreachable(session, round_id))
    return await enqueue(session=session, key=f"escalate:{round_id}", kind="escalation",
                         conversation_id=owner_conversation, now=now,
                         activity=message_with_card(missing_card(view),
                                                    f"Check-in: {len(missing)} not answered"))
