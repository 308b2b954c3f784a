"""Who may read a plan (questions, exports, digest subscriptions): PLANBOT_READERS.

"tenant" (the default, Deps.readers is None): everyone who can talk to the bot. "plan": a plan's
leads (a lead cell linked to them, or one of their aliases), the leads' delegates, the plan's
owner, the admins, and the people named in PLANBOT_READER_IDS (emails or AAD object ids).
Membership of an Azure AD group is not checked: that needs Microsoft Graph, so readers are
named one by one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.auth import acting_person, is_admin
from dialogs.context import Deps, Turn
from storage.models import Action, ActionLead, Person, Plan
from storage.people import led_by

NOT_A_READER = ("Sorry, I can't {what} for you: on this bot the plans are shared only with their "
                "leads, the leads' delegates, the admins and the people an admin has named as "
                "readers, and I can't find you among them. If you should see {which}, ask an "
                "admin to link you to your name in the plan or to add you as a reader.")
SOME_PLANS = ("Sorry, I can't {what} for you across every plan: you may read {names} only. "
              "{hint}")


def _ids(person: Person | None, turn: Turn) -> set[str]:
    """The ways PLANBOT_ADMINS and PLANBOT_READER_IDS name this person, lower case."""
    ids = {turn.user_aad_id or ""}
    if person is not None:
        ids |= {person.email or "", person.aad_object_id or ""}
    return {value.strip().lower() for value in ids} - {""}


async def _leading(session: AsyncSession, people: list[Person], plans: list[Plan]) -> set[int]:
    """The plans (ids) in which one of these people leads an action: by a linked lead cell, else
    by one of their aliases (the rule check-in answers follow, dialogs.auth)."""
    plan_ids = [plan.id for plan in plans]
    linked = set((await session.execute(
        select(Action.plan_id).join(ActionLead, ActionLead.action_id == Action.id)
        .where(ActionLead.person_id.in_([person.id for person in people]),
               Action.plan_id.in_(plan_ids)).distinct())).scalars())
    rest = [plan_id for plan_id in plan_ids if plan_id not in linked]
    if not rest or not any((person.aliases or "").strip() for person in people):
        return linked
    actions = dict((await session.execute(
        select(Action.id, Action.plan_id).where(Action.plan_id.in_(rest)))).all())
    led = await led_by(session=session, action_ids=list(actions), people=people)
    return linked | {actions[action_id] for action_id in led}


async def readable(session: AsyncSession, turn: Turn, deps: Deps, plans: list[Plan]
                   ) -> set[int]:
    """Of these plans, the ones (ids) the person behind this turn may read."""
    all_ids = {plan.id for plan in plans}
    if deps.readers is None or not plans:
        return all_ids
    person = await acting_person(session, turn)
    if _ids(person, turn) & (deps.readers | deps.admins):
        return all_ids
    if person is None:
        return set()
    if await is_admin(session, person, deps):
        return all_ids
    owned = {plan.id for plan in plans if plan.owner_person_id == person.id}
    # The person, and everyone who made them their delegate.
    people = [person, *(await session.execute(
        select(Person).where(Person.delegate_id == person.id))).scalars()]
    return owned | await _leading(session, people, [p for p in plans if p.id not in owned])


async def refusal(session: AsyncSession, turn: Turn, deps: Deps, *, what: str,
                  plan_name: str | None = None, hint: str = "") -> str | None:
    """None when the person behind this turn may read the plan named (by default: every plan);
    else the message that says why not. `what` completes "I can't ... for you"."""
    if deps.readers is None:
        return None
    statement = select(Plan).order_by(Plan.name)
    if plan_name is not None:
        statement = statement.where(Plan.name == plan_name)
    plans = list((await session.execute(statement)).scalars())
    allowed = await readable(session, turn, deps, plans)
    if allowed >= {plan.id for plan in plans}:
        return None
    if not allowed:
        which = f"'{plan_name}'" if plan_name else "the plans"
        return NOT_A_READER.format(what=what, which=which)
    names = "; ".join(f"'{plan.name}'" for plan in plans if plan.id in allowed)
    return SOME_PLANS.format(what=what, names=names, hint=hint).strip()

