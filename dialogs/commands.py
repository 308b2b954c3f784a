"""Chat commands: update by chat, snooze / leave, delegate, and the admin's link commands."""

from __future__ import annotations

import hashlib
import re
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cards.links import LinkSuggestionView, link_suggestions_card
from dialogs.auth import acting_person, answerable, is_admin
from dialogs.checkin_payload import NOTE_MAX, PROGRESS_MAX
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router, normalise
from storage.models import Action, Person, Plan, StatusUpdate
from storage.people import lead_report, link_lead, unlink_lead
from storage.rules import Rag, long_date, parse_date, parse_rag, ref_key
from storage.updates import record_update

router = Router()
NOT_KNOWN = ("I don't know who you are yet: say 'hi' to me in a 1:1 chat first, or ask an admin "
             "to link you to your actions.")
ADMIN_ONLY = ("Sorry, only a plan admin can do that. Ask whoever runs planbot for your council "
              "to add you as an admin.")

_UPDATE = re.compile(
    r"update\s+(?P<ref>[\w.\-]+)\s+(?P<rag>red|amber|green|blue|r|a|g|b)\b\s*[:\-,]?\s*"
    r"(?P<text>.*)", re.IGNORECASE | re.DOTALL)
_LABELLED = re.compile(
    r"\b(?P<label>evidence|corrective(?:\s+actions?)?|next\s+review(?:\s+date)?|review\s+date"
    r"|review)(?P<sep>\s*[:\-\u2013]\s*|\s+(?:on|by)\s+|\s+)", re.IGNORECASE)
RED_AMBER_HELP = ("Red or Amber needs {missing}, for example: update {ref} {rag}: audit booked; "
                  "corrective: weekly case audits; review: 12 December. Nothing was changed.")
_MONTH_FIRST = re.compile(r"\s*(?P<month>[a-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b"
                          r",?(?P<rest>.*)", re.IGNORECASE | re.DOTALL)
_MONTH_ABBR = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
_NUMERIC = re.compile(r"\s*(?P<day>\d{1,2})(?:(?P<sep>[/.\-])(?P<month>\d{1,2})(?P=sep)"
                      r"(?P<year>\d{4}|\d{2})|/(?P<bare>\d{1,2}))(?![\d/.\-])(?P<rest>.*)",
                      re.DOTALL)


def _label_of(match: re.Match) -> str:
    label = match["label"].lower()
    return "review" if "review" in label else "corrective" if label[0] == "c" else "evidence"


def labelled_parts(text: str, today: date) -> tuple[str, dict[str, str]]:
    """'note; evidence: x; corrective: y; review: 1 Dec' -> ('note', {'evidence': 'x', ...}).

    Evidence and corrective action need a ':' or '-' after them, as before. "review" is an
    everyday word ("case file review - 40% done"), so it is a label only when a date follows it,
    or at the start of a clause with ':' ("; review: next Friday" is then a date not read)."""
    found = list(_LABELLED.finditer(text))
    taken = []
    for index, match in enumerate(found):
        sep = match["sep"].strip().lower()
        if _label_of(match) != "review":
            if sep in (":", "-", "\u2013"):
                taken.append(match)
            continue
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        dated = read_day(text[match.end():end].strip(" ,;."), today) is not None
        clause = not text[:match.start()].rstrip() or text[:match.start()].rstrip()[-1] in ";,."
        if (dated and (sep or clause)) or (sep == ":" and clause):
            taken.append(match)
    parts: dict[str, str] = {}
    for index, match in enumerate(taken):
        end = taken[index + 1].start() if index + 1 < len(taken) else len(text)
        parts[_label_of(match)] = text[match.end():end].strip(" ,;.")
    head = text[:taken[0].start()] if taken else text
    return head.strip(" ,;."), parts


def read_day(text: str, today: date, *, past: bool = False) -> date | None:
    """A day in a command ('1 Dec', '12 December 2026', '2026-12-01', 'December 12', '12/12',
    '12-12-2026'): when no year is given, the next one to come, or with past=True the latest
    one not after today ('as of 31 March')."""
    month_first = _MONTH_FIRST.fullmatch(text)
    if month_first and month_first["month"].lower()[:3] in _MONTH_ABBR:
        text = f"{month_first['day']} {month_first['month']}{month_first['rest']}"  # not 2012
    numeric = _NUMERIC.fullmatch(text)
    if numeric and numeric["year"]:
        return parse_date(f"{numeric['day']}/{numeric['month']}/{numeric['year']}",
                          month_end=True)
    if numeric:
        def with_year(year: int) -> date | None:
            return parse_date(f"{numeric['day']}/{numeric['bare']}/{year}", month_end=True)
    elif re.search(r"\b\d{4}\b", text):
        return parse_date(text, month_end=True)
    else:
        def with_year(year: int) -> date | None:
            return parse_date(f"{text} {year}", month_end=True)
    day = with_year(today.year)
    if day is not None and past and day > today:
        day = with_year(today.year - 1)
    elif day is not None and not past and day < today:
        day = with_year(today.year + 1)
    return day


async def _actions_by_ref(session: AsyncSession, ref: str) -> list[tuple[Action, Plan]]:
    rows = await session.execute(select(Action, Plan).join(Plan, Plan.id == Action.plan_id)
                                 .where(Action.ref_key == ref_key(ref)))
    return [(action, plan) for action, plan in rows.all()]


def chat_update_key(turn: Turn) -> str | None:
    """Idempotency key of a chat update: Teams redelivers a message with the same activity id
    in the same conversation, and that must not store a second row."""
    if not turn.activity_id:
        return None
    where = f"{turn.conversation_id or turn.user_id or ''}\x1f{turn.activity_id}"
    return f"chat:{hashlib.sha256(where.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"


def _recorded(update: StatusUpdate, action: Action, plan: Plan) -> str:
    """The confirmation of a chat update, from the row as stored."""
    review = update.next_review
    return (f"Recorded {action.ref} as {(update.rag or 'no RAG').title()}"
            + (f": {update.progress[:200]}" if update.progress else "") + f" ({plan.name})."
            + (f" Next review: {review:%A} {long_date(review)}." if review else ""))


@router.intent(r"update\s+.+")
async def update_by_chat(turn: Turn, deps: Deps) -> Reply:
    """'update 2.4 amber: audit booked for March' stores a status update from chat."""
    try:
        return await _update_by_chat(turn, deps)
    except IntegrityError:  # the same message redelivered at the same moment: stored once
        return await _update_by_chat(turn, deps)


async def _update_by_chat(turn: Turn, deps: Deps) -> Reply:
    match = _UPDATE.fullmatch(normalise(turn.text))
    if match is None:
        return Reply(text="To update an action, write for example: update 2.4 green: audit "
                          "done. For Red or Amber add the corrective action and the next review "
                          "date: update 2.4 amber: audit booked; corrective: weekly case audits; "
                          "review: 12 December. For Blue add the evidence: update 2.4 blue: "
                          "evidence: audit report May 2026")
    rag = parse_rag(match["rag"])
    today = deps.today()
    progress, parts = labelled_parts(match["text"].strip(), today)
    evidence = parts.get("evidence") or None
    corrective = parts.get("corrective") or None
    review = read_day(parts["review"], today) if parts.get("review") else None
    if rag is Rag.BLUE and not evidence:
        return Reply(text="Blue means achieved and evidenced: add the evidence, for example "
                          f"update {match['ref']} blue: evidence: audit report May 2026")
    if parts.get("review") and review is None:
        return Reply(text=f"I couldn't read the review date {parts['review'][:40]!r}. Try for "
                          "example: review: 12 December. Nothing was changed.")
    if review is not None and review < today:
        return Reply(text=f"The next review date {long_date(review)} has passed: "
                          "choose today or a later day. Nothing was changed.")
    missing = [name for name, value in (("the corrective action", corrective),
                                        ("the next review date", review)) if not value]
    if rag in (Rag.RED, Rag.AMBER) and missing:
        return Reply(text=RED_AMBER_HELP.format(missing=" and ".join(missing), ref=match["ref"],
                                                rag=rag.value))
    async with deps.sessions() as session, session.begin():
        actor = await acting_person(session, turn)
        if actor is None:
            return Reply(text=NOT_KNOWN)
        found = await _actions_by_ref(session, match["ref"])
        if not found:
            return Reply(text=f"I can't find action {match['ref']} in any plan.")
        if len(found) > 1:
            names = ", ".join(plan.name for _, plan in found)
            return Reply(text=f"Action {match['ref']} is in several plans ({names}); I can't "
                              "tell which one you mean yet.")
        action, plan = found[0]
        if not await answerable(session, actor=actor, action_ids=[action.id],
                                admin=await is_admin(session, actor, deps)):
            return Reply(text=f"Only the lead of {action.ref}, their delegate or a plan admin "
                              "can update it. Nothing was changed.")
        key = chat_update_key(turn)
        again = (await session.execute(select(StatusUpdate).where(
            StatusUpdate.idempotency_key == key))).scalar() if key else None
        if again is not None:  # Teams delivered this message again: answer as the first time
            return Reply(text=_recorded(again, action, plan))
        update = await record_update(
            session=session, action=action, source="chat", at=deps.clock(), rag=rag.value,
            progress=progress[:PROGRESS_MAX] or None, evidence=(evidence or "")[:NOTE_MAX] or None,
            corrective_action=(corrective or "")[:NOTE_MAX] or None, next_review=review,
            by_name=actor.display_name, by_person_id=actor.id, idempotency_key=key)
    return Reply(text=_recorded(update, action, plan))


@router.intent(r"(snooze|i'?m on leave|i am on leave|on leave|away)\s+(until|till|to)\s+.+")
async def snooze(turn: Turn, deps: Deps) -> Reply:
    """'snooze until 1 Dec' / "I'm on leave until 12 December": no cards while away."""
    words = re.split(r"\b(?:until|till|to)\b", normalise(turn.text), maxsplit=1, flags=re.I)
    day = read_day(words[1].strip(), deps.today()) if len(words) == 2 else None
    if day is None:
        return Reply(text="I couldn't read that date. Try: snooze until 1 Dec")
    async with deps.sessions() as session, session.begin():
        actor = await acting_person(session, turn)
        if actor is None:
            return Reply(text=NOT_KNOWN)
        actor.away_until = day
        session.add(actor)
        delegate = await session.get(Person, actor.delegate_id) if actor.delegate_id else None
    who = (f" {delegate.display_name} gets your check-in cards meanwhile." if delegate
           else " Say 'delegate to NAME' if someone should get them meanwhile.")
    return Reply(text=f"OK: no check-in cards for you until after {day:%A %d %B %Y}.{who}")


@router.intent(r"(i'?m back|i am back|back|unsnooze|resume)")
async def back(turn: Turn, deps: Deps) -> Reply:
    """End leave or a snooze."""
    async with deps.sessions() as session, session.begin():
        actor = await acting_person(session, turn)
        if actor is None:
            return Reply(text=NOT_KNOWN)
        actor.away_until = None
        session.add(actor)
    return Reply(text="Welcome back: your check-in cards start again with the next round.")


async def _person_named(session: AsyncSession, name: str) -> list[Person]:
    key = name.strip().lower()
    rows = await session.execute(select(Person).where(or_(
        func.lower(Person.display_name) == key, func.lower(Person.email) == key,
        func.lower(Person.aad_object_id) == key)))
    return list(rows.scalars())


@router.intent(r"delegate\s+to\s+.+")
async def delegate(turn: Turn, deps: Deps) -> Reply:
    """'delegate to Sarah Holt': they get your cards while you are away."""
    name = re.sub(r"^delegate\s+to\s+", "", normalise(turn.text), flags=re.I)
    async with deps.sessions() as session, session.begin():
        actor = await acting_person(session, turn)
        if actor is None:
            return Reply(text=NOT_KNOWN)
        matches = [p for p in await _person_named(session, name) if p.id != actor.id]
        if len(matches) != 1:
            return Reply(text=f"I know {len(matches)} people called {name!r}; use their full "
                              "name or email as Teams shows it.")
        actor.delegate_id = matches[0].id
        session.add(actor)
    return Reply(text=f"{matches[0].display_name} is now your delegate: they get your check-in "
                      "cards while you are away and may update your actions.")


@router.intent(r"link\s+.+\s+to\s+.+")
async def link(turn: Turn, deps: Deps) -> Reply:
    """Admin: 'link SH to Sarah Holt' links a lead as written in the plan to a Teams user."""
    match = re.fullmatch(r"link\s+(?P<lead>.+?)\s+to\s+(?P<user>.+)", normalise(turn.text),
                         re.IGNORECASE)
    return await _link(turn, deps, lead=match["lead"], user=match["user"])


async def _link(turn: Turn, deps: Deps, *, lead: str, user: str) -> Reply:
    """Link a lead as written in the plan to the one Teams user called `user` (admins only)."""
    async with deps.sessions() as session, session.begin():
        actor = await acting_person(session, turn)
        if not await is_admin(session, actor, deps):
            return Reply(text=ADMIN_ONLY)
        people = await _person_named(session, user)
        if len(people) != 1:
            return Reply(text=f"I know {len(people)} Teams users called {user[:100]!r}. "
                              "They must have installed me or be in a team I'm in.")
        count = await link_lead(session=session, lead=lead, person=people[0])
    if count == 0:
        return Reply(text=f"No action has the lead {lead[:100]!r}; nothing was linked.")
    return Reply(text=f"Linked {lead} to {people[0].display_name} on {count} "
                      "action lead(s).")


@router.intent(r"unlink\s+.+")
async def unlink(turn: Turn, deps: Deps) -> Reply:
    """Admin: 'unlink SH' removes a wrong link (the lead goes back to unlinked)."""
    lead = re.sub(r"^unlink\s+", "", normalise(turn.text), flags=re.I)
    async with deps.sessions() as session, session.begin():
        if not await is_admin(session, await acting_person(session, turn), deps):
            return Reply(text=ADMIN_ONLY)
        count = await unlink_lead(session=session, lead=lead)
    if count == 0:
        return Reply(text=f"{lead!r} was not linked to anyone; nothing changed.")
    return Reply(text=f"Unlinked {lead} on {count} action lead(s).")


@router.intent(r"(who is|who's|list|show) (unlinked|not linked)( leads)?|suggest links")
async def unlinked(turn: Turn, deps: Deps) -> Reply:
    """Admin: the leads not yet linked to Teams users, with suggestions to confirm."""
    async with deps.sessions() as session:
        actor = await acting_person(session, turn)
        if not await is_admin(session, actor, deps):
            return Reply(text=ADMIN_ONLY)
        report = await lead_report(session=session)
        names = {p.id: p.display_name for p in (await session.execute(select(Person).where(
            Person.id.in_({pid for e in report.suggested for pid in e.suggestion.matches})
        ))).scalars()}
    lines = [f"- {entry}" for entry in report.describe_unlinked()]
    if not lines:
        return Reply(text="Every lead is linked to a Teams user.")
    view = LinkSuggestionView(
        items=[(e.lead, e.suggestion.display_name, e.suggestion.confidence)
               for e in report.suggested if not e.suggestion.ambiguous],
        ambiguous=[(e.lead, [names[pid] for pid in e.suggestion.matches if pid in names])
                   for e in report.suggested if e.suggestion.ambiguous],
        unmatched=[e.lead for e in report.unmatched],
        counts={e.lead: e.actions for e in report.suggested + report.unmatched})
    return Reply(text=f"{len(lines)} leads are not linked yet:\n\n" + "\n".join(lines[:60]),
                 cards=[link_suggestions_card(view)])


class LinkConfirm(BaseModel):
    """The data of a 'Confirm' button on the link suggestions card."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    lead: str = Field(min_length=1, max_length=300)
    user: str = Field(min_length=1, max_length=300)


@router.verb("people.link")
async def confirm_link(turn: Turn, deps: Deps) -> Reply:
    """Admin: confirm one suggested link from the card."""
    try:
        data = LinkConfirm.model_validate(turn.value or {})
    except ValidationError:
        return Reply(text="That link button is out of date; type 'who is unlinked?' again.")
    # Straight to the link, not through the typed command: "link {lead} to {user}" would be
    # parsed again, and a lead or user holding " to " (or only spaces) made it fail.
    return await _link(turn, deps, lead=data.lead, user=data.user)


_OWNER = re.compile(r"(?:make me|set me as|i am) (?:the )?(?:plan )?owner"
                    r"(?: (?:of|for) (?P<plan>.+))?", re.IGNORECASE | re.DOTALL)


def _plan_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", name.lower()).strip()


def plans_called(plans: list[Plan], name: str) -> list[Plan]:
    """The plans a name means: its name or slug in any case and punctuation, else the plans
    whose name holds every word of it ("tameside" for "Tameside Improvement Plan 2023")."""
    key = _plan_key(name)
    exact = [plan for plan in plans if key in (_plan_key(plan.name), _plan_key(plan.slug))]
    if exact or not key:
        return exact
    words = key.split()
    return [plan for plan in plans
            if all(word in f"{_plan_key(plan.name)} {_plan_key(plan.slug)}".split()
                   for word in words)]


@router.intent(r"(make me|set me as|i am) (the )?(plan )?owner( (of|for) .+)?")
async def own_plan(turn: Turn, deps: Deps) -> Reply:
    """Admin: become the owner of one plan, who is told which leads did not answer."""
    match = _OWNER.fullmatch(normalise(turn.text))
    asked = match["plan"] if match else None
    async with deps.sessions() as session, session.begin():
        actor = await acting_person(session, turn)
        if not await is_admin(session, actor, deps):
            return Reply(text=ADMIN_ONLY)
        plans = list((await session.execute(select(Plan).order_by(Plan.name))).scalars())
        if not plans:
            return Reply(text="No plan is loaded yet. An admin can import one with "
                              "`planbot import FILE`.")
        chosen = plans_called(plans, asked.strip(" ?.!")) if asked else plans
        if len(chosen) != 1:
            names = "; ".join(plan.name for plan in (chosen or plans)[:20])
            said = (f"I know no plan called {asked.strip()[:100]!r}. " if asked and not chosen
                    else "")
            return Reply(text=f"{said}Which plan? Say for example 'make me owner of "
                              f"{(chosen or plans)[0].name}'. The plans: {names}. Nothing "
                              "was changed.")
        plan = chosen[0]
        plan.owner_person_id = actor.id
        session.add(plan)
    return Reply(text=f"You now own {plan.name}: each week you will get the list of its leads "
                      "who have not answered the check-in.")
