"""The bodies of `planbot people`, `link`, `unlink` and `delete-person` (plan leads ↔ Teams users).

`people` lists every lead of a plan with its link and best suggestion (nothing dropped);
`link`/`unlink` make and undo links; `delete-person` erases one person's personal data for a
data-protection request while keeping the plan's history readable ("a former lead").
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli_commands import UserError, open_database, plans_named
from bot.config import Settings

FORMER_LEAD = "a former lead"
NONE = "\u2014"


def _describe(person) -> str:
    """'Sarah Holt <sarah.holt@x.gov.uk> (aad …)' for messages listing candidates."""
    extras = f" <{person.email}>" if person.email else ""
    return f"{person.display_name}{extras}" + (
        f" (AAD {person.aad_object_id})" if person.aad_object_id else "")


async def find_person(session: AsyncSession, user: str):
    """The one stored person whose display name (any case), email or AAD object id is `user`.

    A UserError when nobody or several people match, listing the candidates.
    """
    from storage.models import Person

    wanted = " ".join(user.split()).lower()
    if not wanted:
        raise UserError("USER is empty: give a display name, email or AAD object id")
    matches = list((await session.execute(select(Person).where(or_(
        func.lower(Person.display_name) == wanted, func.lower(Person.email) == wanted,
        Person.aad_object_id == user.strip())).order_by(Person.id))).scalars())
    matches = [p for p in matches if not (p.display_name == FORMER_LEAD and not (
        p.email or p.aad_object_id or p.teams_user_id))]
    if not matches:
        raise UserError(f"no Teams user {user!r} is known to the bot (by display name, email "
                        "or AAD object id); they must have talked to the bot or be in a team "
                        "where it is installed")
    if len(matches) > 1:
        listing = "; ".join(_describe(p) for p in matches)
        raise UserError(f"{len(matches)} Teams users match {user!r}: {listing}. "
                        "Use the email or AAD object id instead")
    return matches[0]


def _suggestion_text(entry, names: dict[int, str]) -> str:
    hint = entry.suggestion
    if entry.person_id is not None or hint is None:
        return NONE
    if hint.ambiguous:
        who = ", ".join(names.get(pid, str(pid)) for pid in hint.matches)
        return f"{len(hint.matches)} people match equally ({hint.how}): {who}"
    return f"{hint.display_name}? {hint.confidence}% ({hint.how})"


async def people_cmd(settings: Settings, *, plan_name: str | None, out: TextIO | None = None
                     ) -> None:
    """Link exact matches, then print every lead with its link, suggestion and counts."""
    out = out or sys.stdout
    from storage.db import session_factory, transaction
    from storage.models import Person
    from storage.people import auto_link, lead_report

    engine = await open_database(settings)
    try:
        async with transaction(session_factory(engine)) as session:
            plans = await plans_named(session, plan_name)
            made = await auto_link(session=session)
            names = {p.id: p.display_name for p in (await session.execute(
                select(Person))).scalars()}
            reports = [(plan, await lead_report(session=session, plan_id=plan.id))
                       for plan in plans]
    finally:
        await engine.dispose()
    for lead, person_id in made:
        print(f"Linked automatically: {lead} \u2192 {names.get(person_id, person_id)}", file=out)
    if not plans:
        print("No plans yet. Import one with: planbot import FILE", file=out)
    for plan, report in reports:
        print(f"{plan.name}", file=out)
        print("lead\tactions\tlinked to\tsuggestion\tjob title", file=out)
        for entry in sorted(report.entries, key=lambda e: (e.person_id is not None,
                                                           e.suggestion is None, e.lead.lower())):
            print(f"{entry.lead}\t{entry.actions}\t{entry.person_name or NONE}\t"
                  f"{_suggestion_text(entry, names)}\t{'job title' if entry.role else ''}",
                  file=out)
        print(f"{len(report.entries)} leads, {len(report.linked)} linked, "
              f"{len(report.suggested)} suggested, {len(report.unmatched)} unmatched", file=out)


async def link_cmd(settings: Settings, *, lead: str, user: str, out: TextIO | None = None
                   ) -> None:
    """Link a lead as written to a stored Teams user on every action naming it."""
    out = out or sys.stdout
    from storage.db import session_factory, transaction
    from storage.people import link_lead

    engine = await open_database(settings)
    try:
        async with transaction(session_factory(engine)) as session:
            person = await find_person(session, user)
            try:
                count = await link_lead(session=session, lead=lead, person=person)
            except ValueError as exc:
                raise UserError(str(exc)) from exc
            if count == 0:
                raise UserError(f"no action has the lead {lead!r}; see `planbot people`")
    finally:
        await engine.dispose()
    print(f"Linked {lead!r} to {person.display_name}: {count} action lead"
          f"{'s' if count != 1 else ''}.", file=out)


async def unlink_cmd(settings: Settings, *, lead: str, out: TextIO | None = None) -> None:
    """Undo a lead's link; a UserError when it was not linked."""
    out = out or sys.stdout
    from storage.db import session_factory, transaction
    from storage.people import unlink_lead

    engine = await open_database(settings)
    try:
        async with transaction(session_factory(engine)) as session:
            count = await unlink_lead(session=session, lead=lead)
            if count == 0:
                raise UserError(f"{lead!r} is not linked to anyone (or no action has that "
                                "lead); see `planbot people`")
    finally:
        await engine.dispose()
    print(f"Unlinked {lead!r}: {count} action lead{'s' if count != 1 else ''}.", file=out)


@dataclass
class Erasure:
    """What delete-person did, counted."""

    counts: dict[str, int] = field(default_factory=dict)


def _scrub(text: str | None, secrets: list[str]) -> str | None:
    """Replace every secret (JSON-escaped too) in a stored text with 'a former lead'."""
    if not text:
        return text
    for secret in secrets:
        for form in {secret, json.dumps(secret)[1:-1]}:
            text = text.replace(form, FORMER_LEAD)
    return text


async def erase_person(session: AsyncSession, person) -> Erasure:
    """Anonymise one person inside the caller's transaction; the counts of what changed."""
    from storage.models import (
        ActionLead,
        ChannelSubscription,
        Checkin,
        ConversationRef,
        Outbox,
        Person,
        StatusUpdate,
    )

    done = Erasure()
    secrets = [s for s in (person.display_name, person.email) if s and s.strip()]
    secrets += [s for s in (person.teams_user_id, person.aad_object_id) if s and len(s) >= 8]
    refs = list((await session.execute(select(ConversationRef).where(
        ConversationRef.person_id == person.id))).scalars())
    conversations = [ref.conversation_id for ref in refs]
    conversations += [c for c in (await session.execute(select(Checkin.conversation_id).where(
        Checkin.person_id == person.id, Checkin.conversation_id.is_not(None)))).scalars()
        if c not in conversations]
    secrets += conversations

    def count(key: str, result) -> None:
        done.counts[key] = done.counts.get(key, 0) + (result.rowcount or 0)

    count("pending messages cancelled", await session.execute(delete(Outbox).where(
        Outbox.conversation_id.in_(conversations), Outbox.status != "sent")))
    count("sent message records cleared", await session.execute(update(Outbox).where(
        Outbox.conversation_id.in_(conversations)).values(
        conversation_id=f"erased:{person.id}", activity_json="{}")))
    for row in (await session.execute(select(Outbox))).scalars():
        scrubbed = _scrub(row.activity_json, secrets)
        if scrubbed != row.activity_json:
            row.activity_json = scrubbed
            done.counts["other messages scrubbed"] = done.counts.get(
                "other messages scrubbed", 0) + 1
    count("check-in cards detached", await session.execute(update(Checkin).where(
        Checkin.person_id == person.id).values(conversation_id=None, card_activity_id=None)))
    for ref in refs:
        await session.delete(ref)
    done.counts["conversation references deleted"] = len(refs)
    count("action leads unlinked", await session.execute(update(ActionLead).where(
        ActionLead.person_id == person.id).values(person_id=None)))
    lowered = person.display_name.strip().lower()
    count("status updates anonymised", await session.execute(update(StatusUpdate).where(or_(
        StatusUpdate.by_person_id == person.id,
        func.lower(StatusUpdate.by_name) == lowered)).values(by_name=FORMER_LEAD)))
    count("channel subscriptions anonymised", await session.execute(
        update(ChannelSubscription).where(func.lower(ChannelSubscription.created_by) == lowered)
        .values(created_by=FORMER_LEAD)))
    count("delegations to them cleared", await session.execute(update(Person).where(
        Person.delegate_id == person.id).values(delegate_id=None)))
    person.display_name = FORMER_LEAD
    person.email = person.teams_user_id = person.aad_object_id = None
    person.aliases = ""
    person.delegate_id = None
    person.away_until = None
    session.add(person)
    await session.flush()
    return done


def _ask(prompt: str) -> bool:
    """Ask on the terminal; only an explicit yes confirms."""
    return input(prompt).strip().lower() in ("y", "yes")


async def delete_person_cmd(settings: Settings, *, user: str, yes: bool,
                            confirm: Callable[[str], bool] | None = None,
                            interactive: bool | None = None, out: TextIO | None = None) -> None:
    """Erase one person's personal data (data-protection request); history stays readable."""
    out = out or sys.stdout
    from storage.db import session_factory, transaction

    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not yes and not interactive:
        raise UserError("delete-person erases personal data for good: run it in a terminal to "
                        "confirm, or pass --yes")
    engine = await open_database(settings)
    try:
        async with transaction(session_factory(engine)) as session:
            person = await find_person(session, user)
            label = _describe(person)
            if not yes and not (confirm or _ask)(
                    f"Erase the personal data of {label}? This cannot be undone. [y/N] "):
                raise UserError("nothing was deleted")
            erasure = await erase_person(session, person)
    finally:
        await engine.dispose()
    print(f"Erased the personal data of {label}: the person now reads {FORMER_LEAD!r}.",
          file=out)
    for what, number in erasure.counts.items():
        print(f"  {what}: {number}", file=out)


async def admin_cmd(settings: Settings, *, action: str, key: str | None, out=None) -> None:
    """`planbot admin add|remove|list`: plan admins by email or AAD object id."""
    out = out or sys.stdout
    from dialogs.context import system_clock
    from storage.db import session_factory, transaction
    from storage.models import Admin

    if action in ("add", "remove") and not (key and key.strip()):
        raise UserError(f"planbot admin {action} needs an email or AAD object id")
    key = (key or "").strip().lower()
    if action == "add" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+|[0-9a-f-]{36}", key):
        raise UserError(f"{key!r} is neither an email nor an AAD object id")
    engine = await open_database(settings)
    try:
        async with transaction(session_factory(engine)) as session:
            row = (await session.execute(select(Admin).where(Admin.key == key))).scalar()
            if action == "add":
                if row is None:
                    session.add(Admin(key=key, added_at=system_clock()))
                print(f"{key} is {'already ' if row else ''}a plan admin.", file=out)
            elif action == "remove":
                if row is None:
                    where = (" (it comes from PLANBOT_ADMINS: change that setting)"
                             if key in settings.admin_ids else "")
                    raise UserError(f"{key} is not an admin added with `planbot admin`{where}")
                await session.delete(row)
                print(f"{key} is no longer a plan admin.", file=out)
            else:
                rows = (await session.execute(select(Admin).order_by(Admin.key))).scalars()
                lines = [f"{row.key}\tadded {row.added_at:%Y-%m-%d}" for row in rows]
                lines += [f"{k}\tfrom PLANBOT_ADMINS" for k in sorted(settings.admin_ids)]
                print("\n".join(lines) if lines else "No plan admins yet: planbot admin add "
                      "EMAIL", file=out)
    finally:
        await engine.dispose()
