"""planbot in the Microsoft 365 Agents Playground, driven through its API as a user would.

Opt-in: see conftest.py (PLANBOT_E2E=1, `make e2e`).
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.e2e
CARD = "application/vnd.microsoft.card.adaptive"


def cards(event: dict) -> list[dict]:
    return [a["content"] for a in event["message"].get("attachments") or []
            if a.get("contentType") == CARD]


def texts(card: dict) -> str:
    """Every string in a card, joined: what a reader can see (and a little more)."""
    return json.dumps(card, ensure_ascii=False)


def from_bot(pg):
    return lambda e: (e.get("action") == "createMessage"
                      and (e["message"].get("from") or {}).get("id") == pg.cfg["bot"]["id"])


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


async def ask(pg, text: str) -> dict:
    start = len(pg.events)
    await pg.send_text(text)
    return await pg.wait_for(lambda e: from_bot(pg)(e) and cards(e), start)


async def install(pg) -> dict:
    """Install the app in the personal chat; return the welcome's card event."""
    start = len(pg.events)
    assert await pg.install() == 200
    hello = await pg.wait_for(lambda e: from_bot(pg)(e)
                              and "I'm planbot" in (e["message"].get("text") or ""), start)
    # The Playground shows a message with text and a card as two bubbles: text, then card.
    return await pg.wait_for(lambda e: from_bot(pg)(e) and cards(e), pg.events.index(hello) + 1)


async def test_install_sends_the_welcome(pg):
    event = await install(pg)
    assert "Manchester" in texts(cards(event)[0])


async def test_help_answers_with_a_card(pg):
    event = await ask(pg, "help")
    assert cards(event)[0]["type"] == "AdaptiveCard"
    assert "Manchester" in texts(cards(event)[0])


async def test_whats_red_in_quality_of_practice(pg):
    event = await ask(pg, "what's red in Quality of Practice?")
    body = texts(cards(event)[0])
    refs = set(re.findall(r"\b(\d+[a-z])\b", body))
    assert {"3a", "3b", "3c", "8a", "8b", "8c"} <= refs, body[:2000]
    assert refs <= {"3a", "3b", "3c", "8a", "8b", "8c"}, sorted(refs)


async def test_checkin_card_is_delivered_and_recorded(pg, cli):
    await install(pg)  # the bot learns the user and its 1:1 conversation
    # The Playground's installationUpdate carries no user name, so a new person is known by id
    # until a message with their name arrives (a known name is never overwritten by an id).
    await ask(pg, "hi")
    start = len(pg.events)
    name = pg.user["name"]
    cli("link", "Karen Dolton", name)
    out = cli("checkin", "--now")
    assert "All queued cards delivered." in out, out
    event = await pg.wait_for(lambda e: from_bot(pg)(e) and cards(e)
                              and "checkin.submit" in texts(cards(e)[0]), start)
    card = cards(event)[0]
    execute = next(n for n in walk(card.get("actions", []) + card.get("body", []))
                   if n.get("type") == "Action.Execute")
    inputs = [n["id"] for n in walk(card["body"]) if n.get("type", "").startswith("Input.")]
    rag_id = next(i for i in inputs if i.startswith("rag_"))
    key = rag_id.removeprefix("rag_")
    data = {**execute["data"], rag_id: "amber", f"progress_{key}": "Audit booked (e2e)",
            f"corrective_{key}": "Weekly case audit (e2e)", f"review_{key}": "2099-01-31"}
    response = await pg.execute(event["message"]["messageId"], execute["verb"], data)
    # the Playground passes on the invoke body without its statusCode
    assert response.get("statusCode", 200) == 200, response
    assert response["type"] == CARD, response
    recorded = texts(response["value"])
    assert "Recorded" in recorded and "Audit booked (e2e)" in recorded, recorded[:2000]
    # "show <ref>" now answers with the new RAG and the note in the action's history.
    first_ref = re.search(r'"(\w+) · ', json.dumps(card, ensure_ascii=False))
    assert first_ref, "the card names its first action"
    shown = texts(cards(await ask(pg, f"show {first_ref.group(1)}"))[0])
    assert "🟠 Amber" in shown and "Audit booked (e2e)" in shown, shown[:2000]

    # The lead changes their mind on the same card, now with the Action.Submit fallback (what an
    # older Teams client sends): a message with `value`, answered by updating the card in place.
    submit = execute["fallback"]
    assert submit["type"] == "Action.Submit"
    start = len(pg.events)
    card_id = event["message"]["messageId"]
    await pg.submit(card_id, {**submit["data"], rag_id: "green",
                              f"progress_{key}": "Audit done (e2e submit)"})
    updated = await pg.wait_for(lambda e: e.get("action") == "updateMessage"
                                and e["message"].get("messageId") == card_id, start)
    recorded = texts(cards(updated)[0])
    assert "Recorded" in recorded and "Audit done (e2e submit)" in recorded, recorded[:2000]
    shown = texts(cards(await ask(pg, f"show {first_ref.group(1)}"))[0])
    assert "🟢 Green" in shown and "Audit done (e2e submit)" in shown, shown[:2000]
    assert "Audit booked (e2e)" in shown, "the earlier update stays in the history"


async def test_channel_subscribes_and_gets_the_digest(pg, cli):
    """@mention in a team channel: 'subscribe this channel'; `planbot digest --now` posts there."""
    team = pg.cfg["teams"][0]
    channel = team["channels"][0]["id"] if team.get("channels") else team["id"]
    start = len(pg.events)
    await pg.send_text("subscribe this channel to the digest", conversation=channel,
                       mention_bot=True)
    reply = await pg.wait_for(lambda e: from_bot(pg)(e) and "weekly plan digest"
                              in (e["message"].get("text") or ""), start)
    assert reply["actionConversationId"].startswith(channel), reply
    start = len(pg.events)
    out = cli("digest", "--now")
    assert "1 digest card(s) queued." in out and "All queued cards delivered." in out, out
    digest = await pg.wait_for(lambda e: from_bot(pg)(e) and cards(e), start)
    assert digest["actionConversationId"].startswith(channel), digest
    body = texts(cards(digest)[0])
    assert "Manchester" in body, body[:2000]
