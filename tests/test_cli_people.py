"""`planbot people`, `link`, `unlink` and `delete-person` on a real plan (SQLite)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import run
from bot.cli_commands import import_file
from bot.config import Settings
from storage.db import make_engine, migrate, session_factory
from storage.models import (
    ActionLead,
    ChannelSubscription,
    Checkin,
    CheckinRound,
    ConversationRef,
    Outbox,
    Person,
    StatusUpdate,
)
from tests.truthcheck import PLANS

MANCHESTER = PLANS / "manchester-improvement-plan-2015-rag.txt"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'people.db'}"


async def _with_session(url: str, work) -> object:
    engine = make_engine(url)
    await migrate(engine)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _setup(tmp_path: Path, people: list[dict]) -> list[str]:
    """Import Manchester and store `people`; the database option for run()."""
    url = _url(tmp_path)
    asyncio.run(import_file(Settings(database_url=url), MANCHESTER, plan_name=None,
                            dry_run=False, out=io.StringIO()))

    async def add(session) -> None:
        session.add_all([Person(**fields) for fields in people])

    asyncio.run(_with_session(url, add))
    return ["--database-url", url]


KAREN = {"display_name": "Karen Dolton", "email": "karen.dolton@manchester.gov.uk",
         "teams_user_id": "29:karen-teams-id", "aad_object_id": "aad-karen-0001"}
DAVID = {"display_name": "David Copley", "email": "david.copley@manchester.gov.uk",
         "aad_object_id": "aad-david-0002"}
HOLTS = [{"display_name": "Sarah Holt", "email": "sarah.holt@manchester.gov.uk"},
         {"display_name": "sarah holt", "email": "s.holt2@manchester.gov.uk"}]


def _rows(tmp_path: Path, lead: str) -> list[int | None]:
    async def get(session) -> list[int | None]:
        return list((await session.execute(select(ActionLead.person_id).where(
            ActionLead.name == lead))).scalars())
    return asyncio.run(_with_session(_url(tmp_path), get))


def test_people_auto_links_exact_names_and_lists_every_lead(tmp_path, capsys):
    db = _setup(tmp_path, [KAREN, DAVID])
    assert run([*db, "people"]) == 0
    out = capsys.readouterr().out
    assert "Linked automatically: Karen Dolton \u2192 Karen Dolton" in out
    lines = {line.split("\t")[0]: line.split("\t") for line in out.splitlines() if "\t" in line}
    assert lines["Karen Dolton"][1:3] == ["39", "Karen Dolton"]
    assert lines["D Copley"][2] == "\u2014"
    assert "David Copley? 90% (initial and surname)" in lines["D Copley"][3]
    assert lines["Lana Shannon"][2:4] == ["\u2014", "\u2014"]
    assert "23 leads, 1 linked, 1 suggested, 21 unmatched" in out
    assert set(_rows(tmp_path, "Karen Dolton")) == {_person_id(tmp_path, "Karen Dolton")}
    assert set(_rows(tmp_path, "D Copley")) == {None}  # a suggestion is never linked silently
    assert run([*db, "people", "--plan", "Nowhere"]) == 2
    assert "no plan called 'Nowhere'" in capsys.readouterr().err


def _person_id(tmp_path: Path, name: str) -> int:
    async def get(session) -> int:
        return (await session.execute(select(Person.id).where(
            Person.display_name == name))).scalar_one()
    return asyncio.run(_with_session(_url(tmp_path), get))


@pytest.mark.parametrize("user", ["david copley", "DAVID.COPLEY@manchester.gov.uk",
                                  "aad-david-0002"])
def test_link_by_name_email_or_aad_id(tmp_path, capsys, user):
    db = _setup(tmp_path, [KAREN, DAVID])
    assert run([*db, "link", "D Copley", user]) == 0
    assert "Linked 'D Copley' to David Copley: 7 action leads." in capsys.readouterr().out
    assert set(_rows(tmp_path, "D Copley")) == {_person_id(tmp_path, "David Copley")}
    assert run([*db, "people"]) == 0
    assert "23 leads, 2 linked" in capsys.readouterr().out


def test_link_errors_exit_2(tmp_path, capsys):
    db = _setup(tmp_path, [KAREN, *HOLTS])
    assert run([*db, "link", "Lana Shannon", "Sarah Holt"]) == 2
    err = capsys.readouterr().err
    assert "2 Teams users match 'Sarah Holt'" in err
    assert "sarah.holt@manchester.gov.uk" in err and "s.holt2@manchester.gov.uk" in err
    assert run([*db, "link", "S Jackson", "Nobody Known"]) == 2
    assert "no Teams user 'Nobody Known'" in capsys.readouterr().err
    assert run([*db, "link", "Nobody In The Plan", "Karen Dolton"]) == 2
    assert "no action has the lead 'Nobody In The Plan'" in capsys.readouterr().err
    assert set(_rows(tmp_path, "Lana Shannon")) == {None}


def test_unlink(tmp_path, capsys):
    db = _setup(tmp_path, [KAREN])
    assert run([*db, "link", "Karen Dolton", "karen dolton"]) == 0
    capsys.readouterr()
    assert run([*db, "unlink", "Karen Dolton"]) == 0
    assert "Unlinked 'Karen Dolton': 39 action leads." in capsys.readouterr().out
    assert set(_rows(tmp_path, "Karen Dolton")) == {None}
    assert run([*db, "unlink", "Karen Dolton"]) == 2
    assert "'Karen Dolton' is not linked to anyone" in capsys.readouterr().err


async def _history(session) -> None:
    """Karen linked, with a conversation, updates, a check-in, outbox rows and a delegate."""
    from storage.people import link_lead

    karen = (await session.execute(select(Person).where(
        Person.display_name == "Karen Dolton"))).scalar_one()
    david = (await session.execute(select(Person).where(
        Person.display_name == "David Copley"))).scalar_one()
    karen.delegate_id, karen.away_until = david.id, date(2026, 12, 1)
    david.delegate_id = karen.id
    await link_lead(session=session, lead="Karen Dolton", person=karen)
    reference = {"conversation": {"id": "a:karen-chat"},
                 "user": {"id": KAREN["teams_user_id"], "name": "Karen Dolton",
                          "aadObjectId": KAREN["aad_object_id"]}}
    session.add(ConversationRef(conversation_id="a:karen-chat", service_url="https://x/",
                                reference_json=json.dumps(reference), person_id=karen.id))
    action_id = (await session.execute(select(ActionLead.action_id).where(
        ActionLead.name == "Karen Dolton"))).scalars().first()
    for key in ("u1", "u2"):
        session.add(StatusUpdate(action_id=action_id, source="card", by_person_id=karen.id,
                                 by_name="Karen Dolton", rag="amber", progress="audit booked",
                                 idempotency_key=key))
    round_ = CheckinRound(plan_id=1, period="2026-W48")
    session.add(round_)
    await session.flush()
    checkin = Checkin(round_id=round_.id, person_id=karen.id, token="tok",
                      conversation_id="a:karen-chat", card_activity_id="act-1")
    session.add(checkin)
    await session.flush()
    for key, status, conversation in (("c1", "pending", "a:karen-chat"),
                                      ("c0", "sent", "a:karen-chat"),
                                      ("esc", "pending", "a:owner-chat")):
        session.add(Outbox(idempotency_key=key, kind="checkin", conversation_id=conversation,
                           status=status, checkin_id=checkin.id if key != "esc" else None,
                           activity_json=json.dumps({"text": "Not answered: Karen Dolton"})))
    session.add(ChannelSubscription(conversation_id="19:chan", created_by="Karen Dolton"))


def test_delete_person_leaves_no_personal_data(tmp_path, capsys):
    db = _setup(tmp_path, [KAREN, DAVID])
    asyncio.run(_with_session(_url(tmp_path), _history))
    assert run([*db, "delete-person", "karen.dolton@manchester.gov.uk"]) == 2
    assert "pass --yes" in capsys.readouterr().err  # no terminal to confirm on
    assert run([*db, "delete-person", "karen.dolton@manchester.gov.uk", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "Erased the personal data of Karen Dolton" in out
    assert "conversation references deleted: 1" in out
    assert "action leads unlinked: 39" in out and "status updates anonymised: 2" in out
    assert "pending messages cancelled: 1" in out and "delegations to them cleared: 1" in out

    async def dump(session) -> tuple[str, list[StatusUpdate], list[ActionLead], Person]:
        text = []
        for table in (Person, ConversationRef, StatusUpdate, Checkin, Outbox,
                      ChannelSubscription):
            for row in (await session.execute(select(table))).scalars():
                text.append(json.dumps(row.model_dump(mode="json")))
        updates = list((await session.execute(select(StatusUpdate).where(
            StatusUpdate.source == "card"))).scalars())
        leads = list((await session.execute(select(ActionLead).where(
            ActionLead.name == "Karen Dolton"))).scalars())
        former = (await session.execute(select(Person).where(
            Person.display_name == "a former lead"))).scalar_one()
        return "\n".join(text).lower(), updates, leads, former

    text, updates, leads, former = asyncio.run(_with_session(_url(tmp_path), dump))
    for secret in ("karen", "dolton", KAREN["teams_user_id"], KAREN["aad_object_id"],
                   "a:karen-chat"):
        assert secret.lower() not in text, secret
    assert (former.email, former.teams_user_id, former.aad_object_id, former.aliases,
            former.delegate_id, former.away_until) == (None, None, None, "", None, None)
    assert [(u.by_name, u.by_person_id, u.progress) for u in updates] == [
        ("a former lead", former.id, "audit booked")] * 2
    assert len(leads) == 39 and {lead.person_id for lead in leads} == {None}
    assert run([*db, "people"]) == 0
    assert "Karen Dolton\t39\t\u2014" in capsys.readouterr().out  # the plan's text is kept
    assert run([*db, "delete-person", "karen dolton", "--yes"]) == 2
    assert run([*db, "delete-person", "sarah holt", "--yes"]) == 2


def test_delete_person_asks_for_confirmation(tmp_path):
    from bot.cli_commands import UserError
    from bot.cli_people import delete_person_cmd

    _setup(tmp_path, [KAREN])
    settings = Settings(database_url=_url(tmp_path))
    asked: list[str] = []

    def refuse(prompt: str) -> bool:
        asked.append(prompt)
        return False

    with pytest.raises(UserError, match="nothing was deleted"):
        asyncio.run(delete_person_cmd(settings, user="Karen Dolton", yes=False,
                                      confirm=refuse, interactive=True))
    assert "Erase the personal data of Karen Dolton" in asked[0]
    assert _person_id(tmp_path, "Karen Dolton")
    out = io.StringIO()
    asyncio.run(delete_person_cmd(settings, user="Karen Dolton", yes=False,
                                  confirm=lambda prompt: True, interactive=True, out=out))
    assert "Erased the personal data of Karen Dolton" in out.getvalue()


def test_admins_are_added_listed_removed_and_recognised(tmp_path, capsys):
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'admins.db'}"]
    assert run([*db, "admin", "add", "Sam.Admin@Council.example"]) == 0
    assert run([*db, "admin", "add", "sam.admin@council.example"]) == 0
    assert "already a plan admin" in capsys.readouterr().out
    assert run([*db, "admin", "list"]) == 0
    assert "sam.admin@council.example\tadded" in capsys.readouterr().out
    assert run([*db, "admin", "add", "not an email"]) == 2
    assert "neither an email nor an AAD object id" in capsys.readouterr().err
    assert run([*db, "admin", "remove", "sam.admin@council.example"]) == 0
    assert run([*db, "admin", "remove", "sam.admin@council.example"]) == 2
    assert run([*db, "admin", "add"]) == 2


async def test_a_database_admin_may_link_in_chat(sessions, now):
    from dialogs.auth import is_admin
    from dialogs.context import Deps
    from storage.models import Admin, Person

    async with sessions() as session, session.begin():
        sam = Person(display_name="Sam", email="Sam@Council.example", created_at=now)
        kim = Person(display_name="Kim", email="kim@council.example", created_at=now)
        session.add_all([sam, kim, Admin(key="sam@council.example", added_at=now)])
    deps = Deps(sessions=sessions, admins=frozenset({"kim@council.example"}))
    async with sessions() as session:
        assert await is_admin(session, sam, deps)  # from `planbot admin add`
        assert await is_admin(session, kim, deps)  # from PLANBOT_ADMINS
        assert not await is_admin(session, None, deps)
        assert not await is_admin(session, Person(display_name="x", created_at=now), deps)
