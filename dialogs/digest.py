"""The weekly digest for improvement boards: subscribe a channel, build the card, queue it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cards.digest import DigestLine, DigestView, digest_card
from dialogs import access
from dialogs.checkin import message_with_card
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.changes import rags_at_start, went_to, went_worse
from storage.models import (
    Action,
    ChannelSubscription,
    Checkin,
    CheckinRound,
    Outbox,
    Person,
    Plan,
    Theme,
)
from storage.outbox import enqueue
from storage.rules import Rag, long_date
from storage.schedule import occurrence, parse_slot, period_of

router = Router()
LIST_MAX = 10


@router.intent(r"(please )?(subscribe|sign up)( this (channel|chat|team))?( to| for)?( the)?"
               r"( weekly)?( plan)?( digest| summary| report| updates)?")
async def subscribe(turn: Turn, deps: Deps) -> Reply:
    """'subscribe this channel to the digest': the channel gets the digest every Friday."""
    if turn.conversation_type == "personal" or not turn.conversation_id:
        return Reply(text="The weekly digest goes to a channel: @mention me in the board's "
                          "channel with 'subscribe this channel to the digest'.")
    async with deps.sessions() as session, session.begin():
        if refused := await access.refusal(  # PLANBOT_READERS (dialogs/access.py)
                session, turn, deps, what="subscribe this channel to the digest",
                hint="The digest covers every plan: ask an admin to subscribe the channel."):
            return Reply(text=refused)
        existing = (await session.execute(select(ChannelSubscription).where(
            ChannelSubscription.conversation_id == turn.conversation_id))).scalar()
        if existing is None:
            session.add(ChannelSubscription(conversation_id=turn.conversation_id,
                                            timezone=deps.timezone, created_by=turn.user_name,
                                            created_at=deps.clock()))
    when = "already gets" if existing else "will get"
    return Reply(text=f"This channel {when} the weekly plan digest, on Fridays at 15:00 "
                      "(UK time). Say 'unsubscribe' to stop it.")


@router.intent(r"(please )?(unsubscribe|stop)( this (channel|chat|team))?( from)?( the)?"
               r"( weekly)?( plan)?( digest| summary| report| updates)?")
async def unsubscribe(turn: Turn, deps: Deps) -> Reply:
    """Stop the digest in this channel."""
    async with deps.sessions() as session, session.begin():
        existing = (await session.execute(select(ChannelSubscription).where(
            ChannelSubscription.conversation_id == turn.conversation_id))).scalar()
        if existing is not None:
            await session.delete(existing)
    return Reply(text="This channel will no longer get the weekly digest." if existing
                 else "This channel was not getting the digest.")


def _start(day, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def digest_view(session: AsyncSession, plan: Plan, *, now: datetime, tz: str
                      ) -> DigestView:
    """Everything the board's digest shows for one plan, as of now, against a week ago."""
    today = now.astimezone(ZoneInfo(tz)).date()
    since = _start(today - timedelta(days=7), tz)
    themes = dict((await session.execute(select(Theme.id, Theme.name).where(
        Theme.plan_id == plan.id))).all())
    actions = list((await session.execute(select(Action).where(Action.plan_id == plan.id)
                                          .order_by(Action.position))).scalars())
    # A week ago as storage/changes.py reads it (the plan's import is the baseline): the same
    # "went red", "went worse" and "newly Blue" as chat questions and the board report.
    before = await rags_at_start(session, plan.id, since)
    counts: dict[str, dict[str, list[int]]] = {}
    for action in actions:
        theme = themes.get(action.theme_id, "(no theme)")
        bucket = counts.setdefault(theme, {})
        for when, rag in ((0, action.rag), (1, before.get(action.id))):
            bucket.setdefault(rag or "none", [0, 0])[when] += 1
    worse = [a.id for a in actions if went_worse(before.get(a.id), a.rag)
             or went_to(Rag.RED, before.get(a.id), a.rag)]
    blue = [a.id for a in actions if went_to(Rag.BLUE, before.get(a.id), a.rag)]
    by_id = {action.id: action for action in actions}

    def lines(ids) -> list[DigestLine]:
        return [DigestLine(ref=by_id[i].ref, title=by_id[i].text, rag=by_id[i].rag,
                           was=before.get(i), due_text=by_id[i].due_text)
                for i in sorted(ids, key=lambda i: by_id[i].position) if i in by_id]

    overdue = [a.id for a in actions if a.due_date and a.due_date < today and a.rag != "blue"]
    return DigestView(
        plan_name=plan.name, week_label=f"week to {long_date(today)}",
        counts={theme: {rag: (n[0], n[1]) for rag, n in rags.items()}
                for theme, rags in counts.items()},
        worse=lines(worse), new_blue=lines(blue),
        overdue=lines(overdue), not_updated=await _silent_leads(session, plan.id),
        question_overdue="what's overdue?")


async def _silent_leads(session: AsyncSession, plan_id: int) -> list[str]:
    """Leads who did not answer the plan's latest check-in round."""
    latest = (await session.execute(select(CheckinRound.id).where(
        CheckinRound.plan_id == plan_id).order_by(CheckinRound.started_at.desc()).limit(1))
    ).scalar()
    if latest is None:
        return []
    rows = await session.execute(select(Person.display_name).join(
        Checkin, Checkin.person_id == Person.id).where(
        Checkin.round_id == latest, Checkin.status != "answered").order_by(Person.display_name))
    return list(rows.scalars())


async def queue_digests(*, session: AsyncSession, now: datetime, tz: str, key_suffix: str,
                        plan_id: int | None = None, due_only: bool = False) -> int:
    """Queue the digest card for every subscribed channel (and plan); returns how many."""
    subscriptions = (await session.execute(select(ChannelSubscription))).scalars().all()
    queued = 0
    for subscription in subscriptions:
        if due_only:
            period = period_of(now, subscription.timezone)
            at = occurrence(parse_slot(subscription.send_at), period, subscription.timezone,
                            skip_bank_holidays=False)
            if at > now:
                continue
        statement = select(Plan).order_by(Plan.name)
        if subscription.plan_id or plan_id:
            statement = statement.where(Plan.id == (plan_id or subscription.plan_id))
        for plan in (await session.execute(statement)).scalars():
            key = f"digest:{subscription.id}:{plan.id}:{key_suffix}"
            if (await session.execute(select(Outbox.id).where(
                    Outbox.idempotency_key == key))).scalar() is not None:
                continue  # this week's digest is queued already
            view = await digest_view(session, plan, now=now, tz=tz)
            queued += await enqueue(
                session=session, key=key,
                kind="digest", conversation_id=subscription.conversation_id, now=now,
                activity=message_with_card(digest_card(view), f"Weekly digest: {plan.name}"))
    return queued
