"""Linking plan leads to Teams users: the roster on team install, exact names auto-linked,
fuzzier ones suggested to an admin on a card, confirmed with a click."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.config import Settings
from storage.importers.registry import read_plan_file
from storage.models import ActionLead, Person
from storage.plans import save_draft
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.truthcheck import PLANS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ADMIN = teams.user("Sam Admin", 4)
ROSTER = [("Karen Dolton", 1, "karen.dolton@council.example"),
          ("Gladys Rhodes White", 2, "gladys.rhodeswhite@council.example"),
          ("David Copley", 3, "david.copley@gmp.example"),
          ("Janice Schofield", 4, "janice.schofield@council.example"),
          ("Sam Admin", 5, "sam.admin@council.example")]


@pytest.fixture
async def bot(engine, sessions):
    fake, server = await start_connector()
    fake.roster = [teams.roster_member(*member) for member in ROSTER]
    url = str(server.make_url("")).rstrip("/") + "/"
    settings = Settings(app_id="", app_password="", local=True, admins=ADMIN[0]["aadObjectId"])
    client = TestClient(TestServer(create_app(settings, engine, clock=lambda: NOW),
                                   host="127.0.0.1"))
    await client.start_server()
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW, draft=read_plan_file(
            PLANS / "manchester-improvement-plan-2015-rag.txt"))
    yield client, fake, url
    await client.close()
    await server.close()


def find_buttons(node, verb: str):
    """Every Action.Execute with this verb, however deep in the card."""
    if isinstance(node, dict):
        if node.get("type") == "Action.Execute" and node.get("verb") == verb:
            yield node
        for value in node.values():
            yield from find_buttons(value, verb)
    elif isinstance(node, list):
        for value in node:
            yield from find_buttons(value, verb)


async def linked(sessions, lead: str) -> set[str | None]:
    async with sessions() as session:
        rows = await session.execute(select(Person.display_name).select_from(ActionLead)
                                     .outerjoin(Person, Person.id == ActionLead.person_id)
                                     .where(ActionLead.name == lead))
        return set(rows.scalars())


async def test_team_install_learns_the_roster_and_links_exact_names(bot, sessions):
    client, fake, url = bot
    response = await client.post("/api/messages", json=teams.team_installation(url))
    assert response.status in (200, 201)
    async with sessions() as session:
        people = set((await session.execute(select(Person.display_name))).scalars())
    assert {name for name, _, _ in ROSTER} <= people  # all pages of the roster
    assert await linked(sessions, "Karen Dolton") == {"Karen Dolton"}  # exact: auto-linked
    assert await linked(sessions, "Gladys Rhodes White") == {"Gladys Rhodes White"}
    assert await linked(sessions, "D Copley") == {None}  # fuzzy: only suggested
    assert fake.messages()[-1]["text"].startswith("Hello! I'm planbot")


async def test_admin_sees_suggestions_and_confirms_one_on_the_card(bot, sessions):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.team_installation(url))
    await client.post("/api/messages", json=teams.installation_update(url, who=ADMIN))
    await client.post("/api/messages", json=teams.personal_message(url, "who is unlinked?",
                                                                    who=ADMIN))
    message = fake.messages()[-1]
    assert "not linked yet" in message["text"] and "D Copley" in message["text"]
    assert "Head of" not in message["text"] or "job title" in message["text"]
    card = message["attachments"][0]["content"]
    assert_valid_card(card)
    buttons = list(find_buttons(card, "people.link"))
    [copley] = [b for b in buttons if b["data"]["lead"] == "D Copley"]
    assert copley["data"]["user"] == "David Copley"
    body = await (await client.post("/api/messages", json=teams.card_execute(
        url, "people.link", copley["data"], who=ADMIN))).json()
    assert "Linked D Copley to David Copley" in str(body["value"])
    assert await linked(sessions, "D Copley") == {"David Copley"}
    await client.post("/api/messages", json=teams.personal_message(url, "unlink D Copley",
                                                                    who=ADMIN))
    assert fake.messages()[-1]["text"].startswith("Unlinked D Copley")
    assert await linked(sessions, "D Copley") == {None}


async def test_a_non_admin_cannot_link(bot, sessions):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.team_installation(url))
    body = await (await client.post("/api/messages", json=teams.card_execute(
        url, "people.link", {"lead": "D Copley", "user": "David Copley"}))).json()
    assert "only a plan admin" in str(body["value"])
    assert await linked(sessions, "D Copley") == {None}


async def test_an_event_without_a_name_keeps_the_name_already_known(bot, sessions):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.personal_message(url, "hi", who=ADMIN))
    nameless = teams.installation_update(url, who=ADMIN)
    nameless["from"].pop("name")
    await client.post("/api/messages", json=nameless)
    async with sessions() as session:
        names = list((await session.execute(select(Person.display_name).where(
            Person.aad_object_id == ADMIN[0]["aadObjectId"]))).scalars())
    assert names == ["Sam Admin"]
