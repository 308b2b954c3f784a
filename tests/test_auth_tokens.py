"""Bot Framework JWTs with an app id configured: forged, expired, wrong-audience and unknown-key
tokens get 401 (never 500); a correctly signed token is accepted. The signing keys come from a
local RSA key instead of Microsoft's key endpoint (no network here)."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from botframework.connector.auth import jwt_token_extractor
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.app import create_app
from bot.config import Settings
from tests.fakes import teams
from tests.fakes.connector import start_connector

APP_ID = "0b4a3f6e-8d3c-4e1f-9a55-6c1d2e3f4a5b"
KID = "planbot-test-key"
OUR_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def local_signing_keys(monkeypatch):
    """Microsoft's published keys, replaced by ours (endorsed for msteams)."""
    jwk = json.loads(RSAAlgorithm.to_jwk(OUR_KEY.public_key()))
    jwk.update({"kid": KID, "endorsements": ["msteams"]})

    from bot.adapter import SigningKeys  # fetches the keys in place of botbuilder (issue 16)

    async def download(self) -> list[dict]:
        return [jwk]

    monkeypatch.setattr(SigningKeys, "_download", download)
    monkeypatch.setattr(jwt_token_extractor.JwtTokenExtractor, "metadataCache", {})


def token(service_url: str, *, key=OUR_KEY, kid: str = KID, aud: str = APP_ID,
          expires_in: int = 3600, issuer: str = "https://api.botframework.com") -> str:
    now = int(time.time())
    claims = {"iss": issuer, "aud": aud, "serviceurl": service_url, "nbf": now - 60,
              "iat": now - 60, "exp": now + expires_in}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def secured(engine):
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    app = create_app(Settings(app_id=APP_ID, app_password="a-real-looking-secret"), engine)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client, fake, url
    await client.close()
    await server.close()


@pytest.mark.parametrize("make", [
    lambda url: token(url, key=OTHER_KEY),  # forged: signed with someone else's key
    lambda url: token(url, expires_in=-600),  # expired ten minutes ago
    lambda url: token(url, aud="11111111-2222-4333-8444-555555555555"),  # another bot's token
    lambda url: token(url, kid="no-such-key"),  # a key Microsoft never published
    lambda url: token("https://elsewhere.example/"),  # for another service URL
    lambda url: token(url, issuer="https://evil.example"),  # wrong issuer
], ids=["forged", "expired", "other-audience", "unknown-key", "other-service-url", "issuer"])
async def test_bad_tokens_get_401_and_nothing_happens(secured, make):
    client, fake, url = secured
    response = await client.post("/api/messages", json=teams.personal_message(url, "help"),
                                 headers={"Authorization": f"Bearer {make(url)}"})
    assert response.status == 401
    assert fake.requests == []


async def test_a_correctly_signed_token_is_accepted(secured, sessions):
    """An event that needs no reply, so no credentials are fetched from Microsoft."""
    from sqlalchemy import select

    from storage.models import ConversationRef

    client, fake, url = secured
    response = await client.post("/api/messages", json=teams.conversation_update_bot_added(url),
                                 headers={"Authorization": f"Bearer {token(url)}"})
    assert response.status in (200, 201), await response.text()
    async with sessions() as session:  # it was processed: the team's conversation is stored
        stored = (await session.execute(select(ConversationRef.conversation_id))).scalars().all()
    assert stored and fake.requests == []
