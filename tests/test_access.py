"""Who may read the plans (issue 16 case 10): PLANBOT_READERS applies to questions, exports and
digest subscriptions alike; a download link's signature never reaches the access log."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.app import create_app
from bot.config import Settings
from storage.importers.draft import ActionDraft, LeadDraft, ObjectiveDraft, PlanDraft
from storage.models import ChannelSubscription, ExportFile, Person
from storage.people import link_lead
from storage.plans import save_draft
from tests.fakes import teams
from tests.fakes.connector import start_connector

KAREN = (teams.USER, teams.PERSONAL)  # leads 1a of the Alpha plan
BOB = teams.user("Bob Delegate", 5)  # Karen's delegate
MALLORY = teams.user("Mallory Nobody", 3)  # installed the bot, leads nothing
SAM = teams.user("Sam Admin", 4)  # in PLANBOT_ADMINS
RITA = teams.user("Rita Reader", 6)  # in PLANBOT_READER_IDS
VISITOR = teams.user("Vic Visitor", 7)  # never installed the bot: only @mentions it in a channel
REFUSED = "on this bot the plans are shared only with"
LINK = re.compile(r"https?://[^'\"\s]+/exports/[^'\"\s]+")


def _plan(name: str, lead: str) -> PlanDraft:
    return PlanDraft(name=name, layout="test", objectives=[ObjectiveDraft(
        ref="1", text="Improve practice", actions=[
            ActionDraft(ref="1a", ref_as_written="1a", text=f"Audit {name} case files",
                        leads=[LeadDraft(name=lead)], rag="red"),
            ActionDraft(ref="1b", ref_as_written="1b", text=f"Train {name} staff",
                        leads=[LeadDraft(name="Lana Shannon")], rag="amber")])])


def _settings(**readers) -> Settings:
    return Settings(app_id="", app_password="", local=True, admins=SAM[0]["aadObjectId"],
                    **readers)


class Bot:
    """The app over HTTP, a fake connector, and helpers that return what the bot answered."""

    def __init__(self, client, fake, url):
        self.client, self.fake, self.url = client, fake, url

    async def say(self, text: str, who=KAREN) -> dict:
        before = len(self.fake.sent)
        response = await self.client.post("/api/messages",
                                          json=teams.personal_message(self.url, text, who=who))
        assert response.status in (200, 201), await response.text()
        [sent] = self.fake.sent[before:]
        return sent.body

    async def in_channel(self, text: str, account: dict) -> dict:
        activity = teams.channel_mention(self.url, text)
        activity["from"] = dict(account)
        before = len(self.fake.sent)
        response = await self.client.post("/api/messages", json=activity)
        assert response.status in (200, 201), await response.text()
        [sent] = self.fake.sent[before:]
        return sent.body


@pytest.fixture
async def start(engine, sessions, now):
    """start(settings, plans=1) -> Bot: Alpha plan (Karen leads 1a) and, with plans=2, a Beta
    plan she has no part in; everyone but the visitor installed the bot; Bob is Karen's
    delegate."""
    made = []

    async def make(settings: Settings, plans: int = 1) -> Bot:
        fake, server = await start_connector()
        url = str(server.make_url("")).rstrip("/") + "/"
        client = TestClient(TestServer(create_app(settings, engine, clock=lambda: now),
                                       host="127.0.0.1"))
        await client.start_server()
        made.append((client, server))
        async with sessions() as session, session.begin():
            await save_draft(session=session, now=now, draft=_plan("Alpha Plan", "Karen Dolton"))
            if plans == 2:
                await save_draft(session=session, now=now,
                                 draft=_plan("Beta Plan", "Olga Other"))
        for who in (KAREN, BOB, MALLORY, SAM, RITA):
            response = await client.post("/api/messages",
                                         json=teams.installation_update(url, who=who))
            assert response.status in (200, 201)
        async with sessions() as session, session.begin():
            karen = (await session.execute(select(Person).where(
                Person.display_name == "Karen Dolton"))).scalar_one()
            bob = (await session.execute(select(Person).where(
                Person.display_name == "Bob Delegate"))).scalar_one()
            await link_lead(session=session, lead="Karen Dolton", person=karen)
            karen.delegate_id = bob.id
            session.add(karen)
        fake.sent.clear()
        return Bot(client, fake, url)

    yield make
    for client, server in made:
        await client.close()
        await server.close()


def _text(body: dict) -> str:
    return (body.get("text") or "") + str(body.get("attachments") or "")


async def _count(sessions, model) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_by_default_everyone_in_the_tenant_may_read(start, sessions):
    bot = await start(_settings())
    answer = await bot.say("what is red", who=MALLORY)
    assert "Audit Alpha Plan case files" in _text(answer) and REFUSED not in _text(answer)
    export = await bot.say("export the plan to csv", who=MALLORY)
    assert LINK.search(_text(export)) and await _count(sessions, ExportFile) == 1
    subscribed = await bot.in_channel("subscribe this channel to the digest", VISITOR[0])
    assert "will get the weekly plan digest" in _text(subscribed)
    assert await _count(sessions, ChannelSubscription) == 1


async def test_with_plan_readers_an_outsider_is_refused_questions_exports_and_digests(
        start, sessions):
    bot = await start(_settings(readers="plan"))
    for question in ("what is red", "summary", "show 1a", "who hasn't updated"):
        answer = await bot.say(question, who=MALLORY)
        assert REFUSED in answer.get("text", ""), question
        assert "Audit Alpha" not in _text(answer) and not answer.get("attachments"), question
    export = await bot.say("export the plan to csv", who=MALLORY)
    assert "I can't export Alpha Plan for you" in export.get("text", "")
    assert not LINK.search(_text(export)) and await _count(sessions, ExportFile) == 0
    board = await bot.say("board report", who=MALLORY)
    assert REFUSED in board.get("text", "") and await _count(sessions, ExportFile) == 0
    for account in (VISITOR[0], MALLORY[0]):  # never installed the bot / installed it
        subscribed = await bot.in_channel("subscribe this channel to the digest", account)
        assert "can't subscribe this channel to the digest" in subscribed.get("text", "")
    assert await _count(sessions, ChannelSubscription) == 0
    response = await bot.client.post("/api/messages", json=teams.card_execute(
        bot.url, "ask.more", {"question": "what is red", "page": 1}, who=MALLORY))
    assert REFUSED in str(await response.json())


@pytest.mark.parametrize("who", [KAREN, BOB, SAM, RITA],
                         ids=["lead", "delegate", "admin", "named-reader"])
async def test_with_plan_readers_leads_delegates_admins_and_named_readers_may_read(
        start, sessions, who):
    bot = await start(_settings(readers="plan", reader_ids=f"x@council.example, "
                                                          f"{RITA[0]['aadObjectId'].upper()}"))
    answer = await bot.say("what is red", who=who)
    assert "Audit Alpha Plan case files" in _text(answer) and REFUSED not in _text(answer)
    export = await bot.say("export the plan to csv", who=who)
    assert LINK.search(_text(export)) and await _count(sessions, ExportFile) == 1


async def test_a_lead_of_one_plan_reads_that_plan_only(start, sessions):
    bot = await start(_settings(readers="plan"), plans=2)
    mine = await bot.say("export csv for Alpha Plan")
    assert LINK.search(_text(mine))
    theirs = await bot.say("export csv for Beta Plan")
    assert "I can't export Beta Plan for you" in theirs.get("text", "")
    assert await _count(sessions, ExportFile) == 1
    both = await bot.say("what is red")  # would list Beta Plan's actions too
    assert "you may read 'Alpha Plan' only" in both.get("text", "") and not both.get("attachments")
    subscribed = await bot.in_channel("subscribe this channel to the digest", KAREN[0])
    assert "The digest covers every plan" in subscribed.get("text", "")
    assert await _count(sessions, ChannelSubscription) == 0


def test_reader_ids_without_plan_readers_is_refused_at_startup():
    with pytest.raises(ValidationError, match="PLANBOT_READERS=plan"):
        Settings(app_id="", local=True, reader_ids="rita@council.example")
    assert Settings(app_id="", local=True).plan_readers is None
    assert Settings(app_id="", local=True, readers="plan",
                    reader_ids=" Rita@Council.example ,").plan_readers == {"rita@council.example"}


async def test_a_download_is_logged_without_its_signature(start, caplog):
    caplog.set_level(logging.DEBUG)
    bot = await start(_settings())
    export = await bot.say("export the plan to csv")
    link = urlsplit(LINK.search(_text(export)).group(0).rstrip("'"))
    signature = dict(part.split("=", 1) for part in link.query.split("&"))["sig"]
    assert len(signature) > 20
    response = await bot.client.get(f"{link.path}?{link.query}",
                                    headers={"Referer": f"https://teams.example/x?sig={signature}"})
    assert response.status == 200 and "Audit Alpha Plan case files" in await response.text()
    access = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    assert any(link.path in line and " 200 " in line for line in access), access
    logged = [record.getMessage() for record in caplog.records]
    assert not [line for line in logged if signature in line or "sig=" + signature[:8] in line]
    # Nor anywhere else: not the turn that made the link and sent it, not a record's extras.
    assert not [record for record in caplog.records if signature in str(record.__dict__)]


def test_the_signing_key_is_not_in_the_links_repr():
    from storage.export.links import DownloadLinks

    key = b"0123456789abcdef-secret-signing-key"
    links = DownloadLinks(key=key, base_url="https://planbot.example")
    assert "secret-signing-key" not in repr(links) and "planbot.example" in repr(links)
