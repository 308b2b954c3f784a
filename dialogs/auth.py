"""Who may answer for which action: the one rule for check-in cards and chat updates."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Person
from storage.people import led_by


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
