"""HTTP tests: Teams activity JSON posted to /api/messages; replies land on a fake connector."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app, is_loopback
from bot.config import Settings
from storage.importers.draft import ActionDraft, ObjectiveDraft, PlanDraft
from storage.plans import save_draft
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector


@pytest.fixture
async def connector():
    fake, server = await start_connector()
    yield fake, str(server.make_url("")).rstrip("/") + "/"
    await server.close()


async def _client(engine, settings: Settings) -> TestClient:
    client = TestClient(TestServer(create_app(settings, engine), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(engine):
    client = await _client(engine, Settings(app_id="", app_password="", local=True))
    yield client
    await client.close()


async def post(client, activity, **kwargs):
    return await client.post("/api/messages", json=activity, **kwargs)


async def test_help_in_personal_chat_answers_with_a_valid_card(client, connector, sessions, now):
    fake, url = connector
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=now, draft=PlanDraft(
            name="Demo Plan", layout="test", objectives=[ObjectiveDraft(ref="1", text="x", actions=[
                ActionDraft(ref="1a", ref_as_written="1a", text="y")])]))
    response = await post(client, teams.personal_message(url, "help"))
    assert response.status in (200, 201)
    [card] = fake.cards()
    assert_valid_card(card)
    assert "Demo Plan" in str(card) and "Demo Plan — 1 action" in str(card)
    [sent] = fake.sent
    assert sent.conversation_id == teams.PERSONAL["id"]
    assert sent.authorization is None  # local mode: no credentials sent anywhere


async def test_channel_mention_is_stripped_and_answered(client, connector):
    fake, url = connector
    response = await post(client, teams.channel_mention(url, "help"))
    assert response.status in (200, 201)
    [card] = fake.cards()
    assert_valid_card(card)
    assert "@mention me first" in str(card)
    assert fake.sent[0].conversation_id == teams.CHANNEL["id"]


async def test_unknown_text_gets_a_helpful_reply_not_a_stack_trace(client, connector):
    fake, url = connector
    await post(client, teams.personal_message(url, "flibble wibble {{}} <script>"))
    [message] = fake.messages()
    assert message["text"].startswith("Sorry, I didn't understand")
    assert "Traceback" not in str(message)
    assert_valid_card(message["attachments"][0]["content"])


async def test_action_submit_routes_on_the_verb(client, connector):
    fake, url = connector
    await post(client, teams.card_submit(url, {"action": "help"}))
    assert len(fake.cards()) == 1
    await post(client, teams.card_submit(url, {"action": "no-such-verb", "x": 1}))
    assert "out of date" in fake.messages()[-1]["text"]


async def test_action_execute_invoke_returns_the_card_not_500(client, connector):
    fake, url = connector
    response = await post(client, teams.card_execute(url, "help"))
    assert response.status == 200
    body = await response.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    assert_valid_card(body["value"])
    assert fake.sent == []  # the card travels in the invoke response


async def test_action_execute_unknown_verb_is_a_typed_400(client, connector):
    _, url = connector
    response = await post(client, teams.card_execute(url, "delete-everything"))
    assert response.status == 200
    body = await response.json()
    assert body["statusCode"] == 400
    assert body["type"] == "application/vnd.microsoft.error"
    assert "delete-everything" in body["value"]["message"]


async def test_installation_welcomes_once(client, connector):
    fake, url = connector
    assert (await post(client, teams.installation_update(url))).status in (200, 201)
    assert (await post(client, teams.conversation_update_bot_added(url))).status in (200, 201)
    assert len(fake.messages()) == 1
    assert fake.messages()[0]["text"].startswith("Hello! I'm planbot")
    await post(client, teams.installation_update(url, action="remove"))
    assert len(fake.messages()) == 1


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
    ({"data": b"", "headers": {}}, 415),
    ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ({"data": b"[1, 2]", "headers": {"Content-Type": "application/json"}}, 400),
    ({"json": {"text": "no type"}}, 400),
])
async def test_bad_requests_are_refused_cleanly(client, kwargs, status):
    response = await client.post("/api/messages", **kwargs)
    assert response.status == status


@pytest.mark.parametrize("authorization", [None, "Bearer abc.def.ghi", "Bearer", "Basic xyz"])
async def test_with_an_app_id_bad_tokens_get_401_not_500(engine, connector, authorization):
    fake, url = connector
    client = await _client(engine, Settings(app_id="0b4a3f6e-8d3c-4e1f-9a55-6c1d2e3f4a5b",
                                            app_password="a-real-looking-secret"))
    try:
        headers = {"Authorization": authorization} if authorization else {}
        response = await post(client, teams.personal_message(url, "help"), headers=headers)
        assert response.status == 401
    finally:
        await client.close()
    assert fake.sent == []  # nothing was processed


async def test_healthz_reports_the_database(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "local_mode": True}


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.8.9.10")
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("garbage")


async def test_without_app_id_or_local_mode_everything_is_refused(engine, connector):
    fake, url = connector
    client = await _client(engine, Settings(app_id="", app_password="", local=False))
    try:
        response = await post(client, teams.personal_message(url, "help"))
        assert response.status == 401
        assert "not in local mode" in (await response.json())["error"]
        assert (await client.get("/healthz")).status == 200  # health still answers
    finally:
        await client.close()
    assert fake.sent == []


async def test_turns_build_no_user_token_client_until_one_is_used(client, connector,
                                                                  monkeypatch):
    """CloudAdapter makes a user token client for every activity; planbot's is made on first
    use only (bot/adapter.py), and planbot never signs users in."""
    from botframework.connector.auth import _user_token_client_impl

    made = []
    real = _user_token_client_impl._UserTokenClientImpl.__init__

    def counting(self, *args, **kwargs):
        made.append(args)
        real(self, *args, **kwargs)

    monkeypatch.setattr(_user_token_client_impl._UserTokenClientImpl, "__init__", counting)
    fake, url = connector
    assert (await post(client, teams.personal_message(url, "help"))).status in (200, 201)
    response = await post(client, teams.card_execute(url, "no.such.verb", {}))
    assert response.status == 200 and (await response.json())["statusCode"] == 400
    assert made == [] and len(fake.sent) == 1


async def test_the_lazy_user_token_client_makes_its_client_once_and_delegates():
    from bot.adapter import LazyUserTokenClient

    calls = []

    class Real:
        async def get_token_status(self, user_id, channel_id, include_filter):
            calls.append((user_id, channel_id, include_filter))
            return ["status"]

        async def sign_out_user(self, user_id, connection_name, channel_id):
            calls.append(("out", user_id))

    async def make():
        calls.append("made")
        return Real()

    lazy = LazyUserTokenClient(make)
    assert calls == []
    assert await lazy.get_token_status("u", "msteams", None) == ["status"]
    await lazy.sign_out_user("u", "c", "msteams")
    assert calls == ["made", ("u", "msteams", None), ("out", "u")]


def test_an_answered_card_is_not_copied_again_by_botbuilder():
    """botbuilder deep-copies what it sends; a finished invoke answer is shared instead."""
    import copy

    from bot.teams_bot import invoke_card

    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x"}]}
    answer = invoke_card(card)
    assert copy.deepcopy({"value": answer})["value"] is answer
    assert answer == {"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive",
                      "value": card}
