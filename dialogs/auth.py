"""Who is acting and for whom: the person behind a turn, plan admins, and which actions they
may answer for (the one rule for check-in cards and chat updates)."""

from __future__ import annotations

from collections.abc import Collection
from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.context import Deps, Turn
from storage.models import Admin, Person
from storage.people import led_by


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


def may_answer_for(actor: Person, lead: Person, *, admin: bool) -> bool:
    """May the actor answer a card made for `lead`: the lead, the lead's delegate or a plan
    admin (decided from stored data, not the card)."""
    return actor.id == lead.id or lead.delegate_id == actor.id or admin


async def answerable(session: AsyncSession, *, actor: Person, action_ids: Collection[int],
                     for_person: Person | None = None, admin: bool = False) -> set[int]:
    """Of these actions, the ones the actor may update now: an admin every one; anyone else
    those led (by a stored link or an alias) by the actor, by the person the card is for, or by
    someone who made either of them their delegate. Decided from stored data at the moment of
    the answer, so a lead unlinked or reassigned since the card was sent no longer counts."""
    if admin:
        return set(action_ids)
    people = {actor.id: actor}
    if for_person is not None:
        people[for_person.id] = for_person
    delegators = (await session.execute(select(Person).where(
        Person.delegate_id.in_(list(people))))).scalars().all()
    people.update({person.id: person for person in delegators})
    return await led_by(session=session, action_ids=action_ids, people=list(people.values()))
