"""Bad input and faults at /api/messages (issue 16 cases 20 and 21): a signing-key endpoint that
never answers does not freeze the bot; deep JSON, lone surrogates, over-long ids and activities
without a conversation get a clear 400 or are stored, never a 500 or a logged traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from botframework.connector.auth import jwt_token_extractor
from botframework.connector.auth.channel_validation import ChannelValidation
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from bot.app import create_app
from bot.config import Settings
from storage.models import ConversationRef, Person
from tests.fakes import teams
from tests.fakes.connector import start_connector

APP_ID = "0b4a3f6e-8d3c-4e1f-9a55-6c1d2e3f4a5b"
HOLD = 4.0  # seconds the silent endpoint keeps a connection open before hanging up
KEY_TIMEOUT = 0.5  # PLANBOT_SIGNING_KEYS_TIMEOUT in these tests


@pytest.fixture
async def connector():
    fake, server = await start_connector()
    yield fake, str(server.make_url("")).rstrip("/") + "/"
    await server.close()


@pytest.fixture
def errors(caplog):
    """Log records with a traceback, or at ERROR and above, from any logger."""
    caplog.set_level(logging.WARNING)
    return lambda: [f"{record.name}: {record.getMessage()}" for record in caplog.records
                    if record.exc_info or record.levelno >= logging.ERROR]


async def _client(engine, settings: Settings):
    client = TestClient(TestServer(create_app(settings, engine), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def local(engine):
    client = await _client(engine, Settings(app_id="", app_password="", local=True))
    yield client
    await client.close()


# --- case 20: the signing-key endpoint does not answer -------------------------------------

class SilentEndpoint:
    """A TCP server on 127.0.0.1, in its own thread (a blocking fetch in the event loop must not
    stop it), that accepts connections, never answers, and hangs up after HOLD seconds."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/.well-known/openidconfiguration"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        self.stop.wait(HOLD)
        connection.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def silent(monkeypatch):
    endpoint = SilentEndpoint()
    monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", endpoint.url)
    monkeypatch.setattr(jwt_token_extractor.JwtTokenExtractor, "metadataCache", {})
    yield endpoint
    endpoint.close()


def forged_token(service_url: str) -> str:
    """Well formed, Bot Framework issuer, our audience, a key id nobody published."""
    now = int(time.time())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"iss": "https://api.botframework.com", "aud": APP_ID,
                       "serviceurl": service_url, "nbf": now - 60, "exp": now + 3600},
                      key, algorithm="RS256", headers={"kid": "forged-key-id"})


async def test_a_silent_signing_key_endpoint_does_not_freeze_the_bot(engine, connector, silent):
    fake, url = connector
    client = await _client(engine, Settings(
        app_id=APP_ID, app_password="a-real-looking-secret",
        signing_keys_timeout=KEY_TIMEOUT, signing_keys_retry=30))
    headers = {"Authorization": f"Bearer {forged_token(url)}"}
    try:
        started = time.monotonic()
        forged = asyncio.create_task(client.post(
            "/api/messages", json=teams.personal_message(url, "help"), headers=headers))
        await asyncio.sleep(0.1)  # the forged request is waiting for the keys
        health = await client.get("/healthz")
        health_took = time.monotonic() - started - 0.1
        assert health.status == 200 and health_took < 1.0, f"/healthz took {health_took:.1f} s"
        assert not forged.done() and silent.connections == 1  # answered during the fetch
        response = await forged
        forged_took = time.monotonic() - started
        assert response.status in (401, 503), await response.text()
        assert forged_took < KEY_TIMEOUT + 1.0, f"the forged request took {forged_took:.1f} s"
        if response.status == 503:
            assert "signing keys" in (await response.json())["error"]
        # The failure is remembered: the next request is answered at once, with no new fetch.
        again = time.monotonic()
        response = await client.post("/api/messages", json=teams.personal_message(url, "help"),
                                     headers=headers)
        assert response.status in (401, 503) and time.monotonic() - again < 0.3
        assert silent.connections == 1
    finally:
        await client.close()
    assert fake.sent == []


async def test_keys_held_are_used_while_a_refresh_fails():
    """A daily refresh that fails keeps the keys fetched before, and is not tried again on every
    request meanwhile."""
    from bot.adapter import SigningKeys

    calls = []

    class Flaky(SigningKeys):
        async def _download(self):
            calls.append(time.monotonic())
            if len(calls) > 1:
                raise TimeoutError
            return [{"kty": "RSA", "kid": "k1", "n": "sXch", "e": "AQAB"}]

    keys = Flaky("http://127.0.0.1:9/none")
    assert (await keys.get("k1")).endorsements == []
    keys.fetched_at -= 2 * 24 * 3600  # two days old: due for a refresh
    assert (await keys.get("k1")).endorsements == []
    assert (await keys.get("k1")).endorsements == []
    assert len(calls) == 2
    with pytest.raises(PermissionError):
        await keys.get("unknown")


# --- case 21: bad input --------------------------------------------------------------------

def _nested(activity: dict, depth: int) -> bytes:
    """The activity with `value` nested `depth` lists deep (json.dumps itself would recurse)."""
    return (json.dumps(activity)[:-1] + ', "value": ' + "[" * depth + "]" * depth + "}").encode()


@pytest.mark.parametrize("depth", [5000, 500, 100])
async def test_deeply_nested_json_is_a_400(local, connector, errors, depth):
    fake, url = connector
    response = await local.post("/api/messages", data=_nested(teams.card_submit(url, {}), depth),
                                headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "nested more than" in (await response.json())["error"]
    assert errors() == [] and fake.sent == []


async def test_ordinary_nesting_is_still_answered(local, connector, errors):
    fake, url = connector
    data = {"action": "help", "deep": {"a": [[{"b": [1, [2, [3]]]}]]}}
    response = await local.post("/api/messages", json=teams.card_submit(url, data))
    assert response.status in (200, 201) and len(fake.cards()) == 1 and errors() == []


async def test_lone_surrogates_and_nul_in_text_and_names_are_stored_replaced(
        local, connector, sessions, errors):
    fake, url = connector
    who = ({**teams.USER, "name": "Karen \ud800Dolton\x00"}, teams.PERSONAL)
    response = await local.post("/api/messages",
                                json=teams.personal_message(url, "help \udfff me", who=who))
    assert response.status in (200, 201)
    channel = teams.channel_mention(url, "help \ud83d")
    channel["conversation"]["name"] = "Board \udc00 room"
    response = await local.post("/api/messages", json=channel)
    assert response.status in (200, 201)
    assert errors() == [] and len(fake.sent) == 2
    async with sessions() as session:
        person = (await session.execute(select(Person).where(
            Person.teams_user_id == teams.USER["id"]))).scalar_one()
        names = set((await session.execute(select(ConversationRef.name))).scalars())
    assert person.display_name == "Karen \ufffdDolton\ufffd"
    assert "Board \ufffd room" in names


async def test_a_surrogate_pair_is_kept_as_the_character_it_encodes(local, connector, sessions):
    _, url = connector
    who = ({**teams.USER, "name": "Karen \U0001f600"}, teams.PERSONAL)
    response = await local.post("/api/messages", json=teams.personal_message(url, "help", who=who))
    assert response.status in (200, 201)
    async with sessions() as session:
        name = (await session.execute(select(Person.display_name))).scalar_one()
    assert name == "Karen \U0001f600"


@pytest.mark.parametrize(("field", "length", "status"), [
    ("conversation.id", 400, 201), ("conversation.id", 401, 400), ("conversation.id", 5000, 400),
    ("from.id", 5000, 400), ("from.aadObjectId", 5000, 400)])
async def test_identifiers_too_long_to_store_are_a_400_naming_the_field(
        local, connector, sessions, errors, field, length, status):
    fake, url = connector
    activity = teams.personal_message(url, "help")
    outer, inner = field.split(".")
    activity[outer][inner] = "a:" + "x" * (length - 2)
    response = await local.post("/api/messages", json=activity)
    assert response.status in ((200, 201) if status == 201 else (status,))
    async with sessions() as session:
        stored = list((await session.execute(select(ConversationRef.conversation_id))).scalars())
    if status == 400:
        assert f"{field} is longer than" in (await response.json())["error"]
        assert stored == [] and fake.sent == []
    else:
        assert stored == [activity["conversation"]["id"]] and len(fake.sent) == 1
    assert errors() == []


@pytest.mark.parametrize("change", [
    lambda a: a.pop("conversation"), lambda a: a["conversation"].pop("id"),
    lambda a: a.update(conversation=None), lambda a: a.pop("serviceUrl")],
    ids=["no-conversation", "no-conversation-id", "null-conversation", "no-service-url"])
@pytest.mark.parametrize("kind", ["message", "invoke", "installationUpdate"])
async def test_an_activity_without_conversation_or_service_url_is_a_400(
        local, connector, errors, change, kind):
    fake, url = connector
    activity = {"message": teams.personal_message(url, "help"),
                "invoke": teams.card_execute(url, "help"),
                "installationUpdate": teams.installation_update(url)}[kind]
    change(activity)
    response = await local.post("/api/messages", json=activity)
    assert response.status == 400
    assert (await response.json())["error"].startswith("the activity has no ")
    assert errors() == [] and fake.sent == []


@pytest.mark.parametrize("data", [b'{"type": "message", "x": ' + b"1" * 5000 + b"}",
                                  b'{"type": ["message"]}', b'{"type": "message", "from": [1]}'])
async def test_odd_shapes_are_a_400_without_a_traceback(local, errors, data):
    response = await local.post("/api/messages", data=data,
                                headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert errors() == []
