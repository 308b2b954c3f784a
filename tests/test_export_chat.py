"""'export the plan to Excel' in Teams: a card with a download button at a signed link that
works for that file only, for 24 hours; tampered, expired or other-file links get 403."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from docx import Document
from openpyxl import load_workbook

from bot.app import create_app
from bot.config import Settings
from storage.export.links import DownloadLinks
from storage.importers.registry import read_plan_file
from storage.plans import save_draft
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.test_export import PLANS


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def world(engine, sessions):
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    async with sessions() as session, session.begin():
        await save_draft(session=session, draft=read_plan_file(PLANS[0]),
                         now=datetime(2026, 9, 1, tzinfo=UTC))
    clock = Clock()
    settings = Settings(app_id="", app_password="", local=True, export_key="test-key",
                        public_url="https://planbot.example.gov.uk")
    client = TestClient(TestServer(create_app(settings, engine, clock=clock), host="127.0.0.1"))
    await client.start_server()
    yield fake, url, client, clock
    await client.close()
    await server.close()


async def ask_for(world, text: str) -> dict:
    fake, url, client, _ = world
    before = len(fake.cards())
    response = await client.post("/api/messages", json=teams.personal_message(url, text))
    assert response.status in (200, 201)
    return fake.cards()[before]


def download_path(card: dict) -> str:
    [button] = card["actions"]
    assert button["type"] == "Action.OpenUrl"
    parts = urlsplit(button["url"])
    assert f"{parts.scheme}://{parts.netloc}" == "https://planbot.example.gov.uk"
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize(("text", "suffix", "check"), [
    ("export the plan to Excel", ".xlsx", lambda body: load_workbook(io.BytesIO(body))),
    ("export as csv", ".csv", lambda body: body.decode("utf-8-sig").startswith("Theme,Ref")),
    ("download the plan as json", ".json", lambda body: json.loads(body)["actions"]),
    ("board report", ".docx", lambda body: "Improvement Board report" in "\n".join(
        paragraph.text for paragraph in Document(io.BytesIO(body)).paragraphs)),
])
async def test_export_in_chat_gives_a_download_that_works(world, text, suffix, check):
    card = await ask_for(world, text)
    assert_valid_card(card)
    path = download_path(card)
    assert path.split("?")[0].endswith(suffix)
    response = await world[2].get(path)
    assert response.status == 200
    body = await response.read()
    assert check(body)
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"


async def test_as_of_a_date_in_chat(world):
    card = await ask_for(world, "export the plan to excel as of 1 November 2026")
    assert "01 November 2026" in json.dumps(card)
    # No year: the latest such day not after today (not 2001 for "November 1", not 2027)
    for text, day in (("as of November 1", "01 November 2026"), ("as of 1 Nov", "01 November 2026"),
                      ("as of October 1", "01 October 2026")):
        card = await ask_for(world, f"export the plan to excel {text}")
        assert day in json.dumps(card), text
    fake, url, client, _ = world
    await client.post("/api/messages", json=teams.personal_message(
        url, "export the plan to excel as of 1 January 2030"))
    assert "in the future" in fake.messages()[-1]["text"]


async def test_tampered_expired_and_other_file_links_get_403(world):
    _, _, client, clock = world
    path = download_path(await ask_for(world, "export the plan to Excel"))
    other = download_path(await ask_for(world, "export as csv"))
    route, query = path.split("?")
    params = {key: value[0] for key, value in parse_qs(query).items()}
    token, filename = route.split("/")[2:4]
    other_route = other.split("?")[0]
    forged = [
        f"{route}?expires={params['expires']}&sig={params['sig'][:-2]}xx",  # tampered signature
        f"{route}?expires={int(params['expires']) + 3600}&sig={params['sig']}",  # longer life
        f"/exports/{token}/other.xlsx?expires={params['expires']}&sig={params['sig']}",
        f"{other_route}?expires={params['expires']}&sig={params['sig']}",  # another file
        f"{route}",  # no signature
        f"/exports/{'A' * 32}/{filename}?expires={params['expires']}&sig={params['sig']}",
    ]
    for bad in forged:
        response = await client.get(bad)
        assert response.status == 403, bad
        assert "not valid or has expired" in await response.text()
    links = DownloadLinks(key=b"test-key", base_url="https://x")
    # A correctly signed link to a token that does not exist is still 403 (no guessing).
    unknown = urlsplit(links.url("no-such-token", filename,
                                 clock.now + timedelta(hours=1)))
    assert (await client.get(f"{unknown.path}?{unknown.query}")).status == 403
    assert (await client.get(path)).status == 200
    clock.now += timedelta(hours=24, seconds=1)
    assert (await client.get(path)).status == 403  # expired after 24 hours
    assert (await client.get("/exports/")).status in (403, 404)  # no listing


async def test_several_plans_ask_which_one(world, sessions):
    async with sessions() as session, session.begin():
        await save_draft(session=session, draft=read_plan_file(PLANS[1]),
                         now=datetime(2026, 9, 1, tzinfo=UTC))
    fake, url, client, _ = world
    await client.post("/api/messages", json=teams.personal_message(url, "export to excel"))
    assert fake.messages()[-1]["text"].startswith("Which plan?")
