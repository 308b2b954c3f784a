"""People and plan leads: upsert people from Teams, link leads to them, whose actions.

A lead written in a plan ("D Copley", "S. Rawlinson/S Jackson") is linked to a Person by adding
it to the person's aliases; ActionLead.person_id holds the first linked person of each cell.
Matching itself (splitting cells, suggestions) is pure and lives in storage.leads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.leads import Roster, Suggestion, is_role, lead_people, normalise, suggest
from storage.models import Action, ActionLead, Person
from storage.rules import Rag

__all__ = [
    "LeadEntry", "LeadReport", "Roster", "Suggestion", "actions_for_person", "auto_link",
    "is_role", "lead_people", "lead_report", "led_by", "link_lead", "linked_people", "normalise",
    "suggest", "unlink_lead", "upsert_person",
]


# --- Repository ---------------------------------------------------------------------------------


async def upsert_person(*, session: AsyncSession, display_name: str | None,
                        teams_user_id: str | None, aad_object_id: str | None, email: str | None,
                        now: datetime) -> Person:
    """Find a person by AAD id, then Teams id, then email (any case); update or create them.

    With no display name (Teams leaves it out of some events) a known person keeps theirs and a
    new one is named after their id until they are seen with a name.
    """
    person = None
    for column, value in ((Person.aad_object_id, aad_object_id),
                          (Person.teams_user_id, teams_user_id),
                          (func.lower(Person.email), (email or "").strip().lower() or None)):
        if value and person is None:
            person = (await session.execute(
                select(Person).where(column == value).order_by(Person.id).limit(1))).scalar()
    if person is None:
        fallback = display_name or email or teams_user_id or aad_object_id or "unknown user"
        person = Person(display_name=fallback, created_at=now)
    for attribute, value in (("aad_object_id", aad_object_id), ("teams_user_id", teams_user_id)):
        if value and getattr(person, attribute) != value:
            await _release(session, attribute, value)
            setattr(person, attribute, value)
    if display_name and display_name.strip():
        person.display_name = display_name.strip()
    if email:
        person.email = email.strip()
    session.add(person)
    await session.flush()
    return person


async def _release(session: AsyncSession, attribute: str, value: str) -> None:
    """Take a Teams or AAD id away from a stale row: one account is one person."""
    column = getattr(Person, attribute)
    for other in (await session.execute(select(Person).where(column == value))).scalars():
        setattr(other, attribute, None)
    await session.flush()


def _aliases(person: Person) -> list[str]:
    return [alias for alias in (person.aliases or "").split("|") if alias.strip()]


async def _people(session: AsyncSession) -> list[Person]:
    return list((await session.execute(select(Person).order_by(Person.id))).scalars())


def _alias_map(people: list[Person]) -> dict[str, int]:
    return {normalise(alias): person.id for person in reversed(people)
            for alias in _aliases(person)}


def _keys(cell: str) -> list[str]:
    return [normalise(name) for name in lead_people(cell)]


def _cell_keys(cell: str) -> list[str]:
    """What a lead cell is matched by: the whole cell, then each person in it."""
    return [normalise(cell), *_keys(cell)]


async def _rows_naming(session: AsyncSession, key: str) -> list[ActionLead]:
    names = (await session.execute(select(ActionLead.name).distinct())).scalars().all()
    wanted = [name for name in names if key in _cell_keys(name)]
    if not wanted:
        return []
    return list((await session.execute(
        select(ActionLead).where(ActionLead.name.in_(wanted)).order_by(ActionLead.id))).scalars())


def _resolve(cell: str, aliases: dict[str, int]) -> int | None:
    return next((aliases[key] for key in _cell_keys(cell) if key in aliases), None)


async def link_lead(*, session: AsyncSession, lead: str, person: Person) -> int:
    """Link a lead as written to a person on every action naming it; the number of rows linked."""
    key = normalise(lead)
    if not key:
        raise ValueError(f"not a lead name: {lead!r}")
    rows = await _rows_naming(session, key)
    if not rows:
        return 0
    session.add(person)
    people = await _people(session)
    for other in people:
        if other.id != person.id and key in map(normalise, _aliases(other)):
            other.aliases = "|".join(a for a in _aliases(other) if normalise(a) != key)
    if key not in map(normalise, _aliases(person)):
        person.aliases = "|".join([*_aliases(person), " ".join(lead.split())])
    aliases = _alias_map(people)
    for row in rows:
        row.person_id = _resolve(row.name, aliases)
    await session.flush()
    return len(rows)


async def unlink_lead(*, session: AsyncSession, lead: str) -> int:
    """Forget who a lead is: remove the alias and the links; the number of rows unlinked."""
    key = normalise(lead)
    people = await _people(session)
    holders = [p for p in people if key in map(normalise, _aliases(p))]
    for person in holders:
        person.aliases = "|".join(a for a in _aliases(person) if normalise(a) != key)
    aliases = _alias_map(people)
    count = 0
    for row in await _rows_naming(session, key):
        linked = _resolve(row.name, aliases)
        count += bool(holders) or row.person_id != linked
        row.person_id = linked
    await session.flush()
    return count


@dataclass
class LeadEntry:
    """One individual lead of a plan: how it is written, on how many actions, and who it is."""

    lead: str
    spellings: tuple[str, ...]
    actions: int
    role: bool
    person_id: int | None
    person_name: str | None
    suggestion: Suggestion | None


@dataclass
class LeadReport:
    """Every distinct lead, linked or not: nothing is dropped."""

    entries: list[LeadEntry]

    @property
    def linked(self) -> list[LeadEntry]:
        """Leads linked to a person."""
        return [entry for entry in self.entries if entry.person_id is not None]

    @property
    def suggested(self) -> list[LeadEntry]:
        """Unlinked leads with a suggested person."""
        return [e for e in self.entries if e.person_id is None and e.suggestion is not None]

    @property
    def unmatched(self) -> list[LeadEntry]:
        """Unlinked leads nobody resembles (job titles, people not yet in Teams)."""
        return [e for e in self.entries if e.person_id is None and e.suggestion is None]

    def describe_unlinked(self) -> list[str]:
        """One line per unlinked lead, suggestions first: 'S Jackson (3 actions): Sarah...?'."""
        lines = []
        for entry in self.suggested + self.unmatched:
            text = f"{entry.lead} ({entry.actions} action{'s' if entry.actions != 1 else ''})"
            hint = entry.suggestion
            if hint and hint.ambiguous:
                text += f": {len(hint.matches)} people match equally ({hint.how})"
            elif hint:
                text += f": {hint.display_name}? ({hint.confidence}%, {hint.how})"
            elif entry.role:
                text += ": a job title; link it to whoever holds it"
            lines.append(text)
        return lines


async def lead_report(*, session: AsyncSession, plan_id: int | None = None,
                      suggestions: bool = True) -> LeadReport:
    """Every individual lead of a plan (or all plans) with its link and, for the unlinked ones,
    the best suggestion (fuzzy matching against everyone: skip it with suggestions=False)."""
    statement = select(ActionLead.action_id, ActionLead.name, ActionLead.person_id)
    if plan_id is not None:
        statement = statement.join(Action, Action.id == ActionLead.action_id).where(
            Action.plan_id == plan_id)
    people = await _people(session)
    by_id = {person.id: person for person in people}
    aliases = _alias_map(people)
    roster = [(p.id, p.display_name, p.email, p.aliases or "") for p in people]
    spellings: dict[str, Counter[str]] = {}
    actions: dict[str, set[int]] = {}
    direct: dict[str, int] = {}
    for action_id, cell, person_id in (await session.execute(statement.order_by(ActionLead.id))):
        names = lead_people(cell)
        for name in names:
            spellings.setdefault(normalise(name), Counter())[name] += 1
            actions.setdefault(normalise(name), set()).add(action_id)
        if person_id is not None and len(names) == 1:
            direct.setdefault(normalise(names[0]), person_id)
    entries = []
    for key, counts in spellings.items():
        lead = counts.most_common(1)[0][0]
        person = by_id.get(aliases.get(key, direct.get(key)))
        entries.append(LeadEntry(
            lead=lead, spellings=tuple(counts), actions=len(actions[key]), role=is_role(lead),
            person_id=person.id if person else None,
            person_name=person.display_name if person else None,
            suggestion=suggest(lead, roster) if person is None and suggestions else None))
    return LeadReport(entries=entries)


async def auto_link(*, session: AsyncSession) -> list[tuple[str, int]]:
    """Link every unlinked lead that matches exactly one person exactly; the links made."""
    people = {person.id: person for person in await _people(session)}
    aliases = _alias_map(list(people.values()))
    for row in (await session.execute(select(ActionLead))).scalars():
        linked = _resolve(row.name, aliases)
        if linked is not None and row.person_id is None:
            row.person_id = linked  # rows imported since their lead was linked
    made = []
    for entry in (await lead_report(session=session)).entries:
        if entry.person_id is None and entry.suggestion and entry.suggestion.auto_linkable:
            person = people[entry.suggestion.person_id]
            await link_lead(session=session, lead=entry.lead, person=person)
            made.append((entry.lead, person.id))
    await session.flush()
    return made


async def actions_for_person(*, session: AsyncSession, person: Person, today: date,
                             include_delegated: bool = True) -> list[Action]:
    """Open actions a person leads, plus those of people away today who delegated to them."""
    people = [person]
    if include_delegated:
        people += (await session.execute(select(Person).where(
            Person.delegate_id == person.id, Person.away_until.is_not(None),
            Person.away_until >= today))).scalars().all()
    keys = {normalise(alias) for someone in people for alias in _aliases(someone)}
    names = (await session.execute(select(ActionLead.name).distinct())).scalars().all()
    named = [name for name in names if keys & {normalise(name), *_keys(name)}]
    statement = (
        select(Action).join(ActionLead, ActionLead.action_id == Action.id)
        .where(or_(ActionLead.person_id.in_([someone.id for someone in people]),
                   ActionLead.name.in_(named)),
               or_(Action.rag.is_(None), Action.rag != Rag.BLUE.value))
        .distinct().order_by(Action.plan_id, Action.position, Action.id))
    return list((await session.execute(statement)).scalars())


async def linked_people(*, session: AsyncSession, plan_id: int,
                        action_ids: Collection[int] | None = None) -> dict[int, list[int]]:
    """Every linked person of each action of a plan (or of these actions of it), in cell order
    (all people of a cell)."""
    aliases = _alias_map(await _people(session))
    statement = (select(ActionLead.action_id, ActionLead.name, ActionLead.person_id)
                 .join(Action, Action.id == ActionLead.action_id).where(Action.plan_id == plan_id)
                 .order_by(ActionLead.action_id, ActionLead.position, ActionLead.id))
    if action_ids is not None:
        statement = statement.where(ActionLead.action_id.in_(list(action_ids)))
    rows = await session.execute(statement)
    result: dict[int, list[int]] = {}
    for action_id, cell, person_id in rows.all():
        found = [aliases[key] for key in _cell_keys(cell) if key in aliases]
        bucket = result.setdefault(action_id, [])
        for pid in [*found, *([person_id] if person_id is not None else [])]:
            if pid not in bucket:
                bucket.append(pid)
    return result


async def led_by(*, session: AsyncSession, action_ids: Collection[int],
                 people: Collection[Person]) -> set[int]:
    """Of these actions, the ones a lead cell links to one of these people: by its stored link
    or by one of a person's aliases (any person of a shared cell). Reads these actions' lead rows
    only, not every person, so that a check-in answer stays cheap with 10,000 people."""
    if not action_ids or not people:
        return set()
    ids = {person.id for person in people}
    mine = {normalise(alias) for person in people for alias in _aliases(person)}
    rows = await session.execute(select(ActionLead.action_id, ActionLead.name,
                                        ActionLead.person_id)
                                 .where(ActionLead.action_id.in_(list(action_ids))))
    return {action_id for action_id, cell, person_id in rows.all()
            if person_id in ids or not mine.isdisjoint(_cell_keys(cell))}
