"""Property tests: any text, however hostile, gets an answer from the question parser and the
router, and nothing stored changes unless the text was a command that is meant to write."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import SQLModel

from dialogs import commands, digest
from dialogs.ask.parse import parse
from dialogs.ask.query import Query, Vocabulary
from dialogs.context import Deps, Reply, Turn
from dialogs.help import build_router
from storage.db import session_factory
from storage.importers.registry import read_plan_file
from storage.people import link_lead, upsert_person
from storage.plans import save_draft
from tests.truthcheck import PLANS

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def budget(examples: int) -> settings:
    """Hypothesis settings for these tests: no deadline (database work), no example database in
    the checkout, fixtures shared by the examples of one test (they re-check the data).

    PLANBOT_PROPERTY_SCALE=10 runs ten times as many examples (a deeper search, minutes)."""
    scale = max(1, int(os.environ.get("PLANBOT_PROPERTY_SCALE", "1")))
    return settings(max_examples=examples * scale, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


SQL = ["'; DROP TABLE action; --", "1' OR '1'='1", '" OR 1=1 --', "%' AND 1=1 --", "%", "_",
       "\\", "' UNION SELECT * FROM person --", "Robert'); DROP TABLE students;--", "--", "/*"]
HTML = ["<script>alert(1)</script>", "<at>planbot</at>", "<img src=x onerror=alert(1)>",
        "&lt;b&gt;", "**bold**", "[x](javascript:alert(1))", "{{}}", "${{7*7}}", "%s%n",
        '{"type": "AdaptiveCard"}', "</at>", "<at>"]
WORDS = ["red", "amber", "green", "blue", "RAG", "overdue", "due", "next month", "since",
         "last week", "for", "by", "Karen Dolton", "Karen", "3a", "2.4", "10e", "CS18001.A",
         "show", "summary", "who hasn't updated", "in", "Quality of Practice", "mine", "my",
         "update", "update 3a amber:", "evidence:", "snooze until", "delegate to", "link",
         "to", "unlink", "help", "plans", "subscribe", "stop", "I'm back", "make me owner",
         "?", "!", ".", "'", "\u2019", "😀", "👩🏽‍💻", "\u200b", "\u202e", "\x00", "\n", "\t",
         "\r\n", "\xa0", "ﷺ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "İ", "ß", "31 February", "99/99/9999", "-1",
         "1e309", "0" * 40]
fragments = st.sampled_from(SQL + HTML + WORDS)
mixed = st.lists(st.one_of(fragments, st.text(max_size=12)), max_size=14).map(" ".join)
huge = st.builds(lambda chunk, size: (chunk * (size // len(chunk) + 1))[:size],
                 st.one_of(fragments, st.text(min_size=1, max_size=10)),
                 st.integers(10_000, 100_000))
hostile_text = st.one_of(st.text(), mixed, huge)

# The only chat commands that are meant to change stored data (for a known or admin user).
WRITERS = {commands.update_by_chat, commands.snooze, commands.back, commands.delegate,
           commands.link, commands.unlink, commands.own_plan, digest.subscribe,
           digest.unsubscribe}
CHANNEL_WRITERS = {digest.subscribe, digest.unsubscribe}  # need no known person


async def fingerprint(engine, skip: frozenset[str] = frozenset()) -> dict[str, list[tuple]]:
    """Every row of every table (but `skip`), in primary-key order: equal fingerprints, equal
    data."""
    tables: dict[str, list[tuple]] = {}
    async with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = await connection.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = [tuple(row) for row in rows]
    return tables


@pytest.fixture(scope="module")
def manchester():
    return read_plan_file(PLANS / "manchester-improvement-plan-2015-rag.txt")


@pytest.fixture(scope="module")
def vocab(manchester) -> Vocabulary:
    """The Manchester plan's words, as the ask dialog reads them from the database."""
    actions = manchester.all_actions()
    return Vocabulary(plans=[manchester.name], themes=[theme.name for theme in manchester.themes],
                      leads=list(dict.fromkeys(lead.name for _, action in actions
                                               for lead in action.leads)),
                      refs=[action.ref for _, action in actions],
                      objectives={o.ref: o.text for o in manchester.objectives})


@budget(300)
@given(text=hostile_text)
@example(text="'; DROP TABLE action; --")
@example(text="<script>alert('red')</script> for Karen Dolton")
@example(text="")
def test_the_parser_reads_any_text_into_a_query(vocab, text):
    query = parse(text, vocab, today=date(2026, 11, 25))
    assert isinstance(query, Query)
    assert query.intent in ("list", "show", "changes", "summary", "not_updated", "help",
                            "unknown")


@pytest.fixture
async def chat(engine, manchester):
    """The Manchester plan, Karen Dolton (a linked lead) and an admin, in the database."""
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW, draft=manchester)
        karen = await upsert_person(session=session, display_name="Karen Dolton",
                                    teams_user_id="29:karen", aad_object_id="aad-karen",
                                    email=None, now=NOW)
        await upsert_person(session=session, display_name="Sam Admin", teams_user_id="29:admin",
                            aad_object_id="aad-admin", email=None, now=NOW)
        assert await link_lead(session=session, lead="Karen Dolton", person=karen) > 0
    return engine, Deps(sessions=sessions, clock=lambda: NOW, admins=frozenset({"aad-admin"}))


PEOPLE = {"stranger": ("29:stranger", "aad-stranger", "Mallory"),
          "lead": ("29:karen", "aad-karen", "Karen Dolton"),
          "admin": ("29:admin", "aad-admin", "Sam Admin")}
ROUTER = build_router()


@budget(200)
@given(text=hostile_text, who=st.sampled_from(sorted(PEOPLE)),
       where=st.sampled_from(["personal", "channel", "groupChat"]))
@example(text="'; DROP TABLE action; --", who="admin", where="personal")
@example(text="update 3a red: '; DROP TABLE action; --", who="stranger", where="personal")
@example(text="link '; DROP TABLE person; -- to <script>", who="admin", where="channel")
@example(text="update 3a amber: audit\x00booked; corrective: weekly audit; review: 12 December",
         who="lead", where="personal")  # PostgreSQL
@example(text="delegate to Sam\x00Admin", who="lead", where="personal")  # refused NUL (fixed)
@example(text="red actions for Karen\x00Dolton", who="lead", where="personal")
@example(text="snooze until 1 Dec", who="lead", where="personal")  # writes: a real command
@example(text="update 3a green: <script>alert(1)</script>", who="lead", where="personal")
async def test_any_message_gets_an_answer_and_changes_nothing_it_should_not(chat, text, who,
                                                                            where):
    engine, deps = chat
    user_id, aad, name = PEOPLE[who]
    before = await fingerprint(engine)
    turn = Turn(text=text, conversation_type=where, user_name=name, user_aad_id=aad,
                user_id=user_id, conversation_id=f"conversation-{where}")
    reply = await ROUTER.route_text(turn, deps)
    assert isinstance(reply, Reply)
    assert reply.text or reply.cards
    assert all(isinstance(card, dict) and card.get("type") == "AdaptiveCard"
               for card in reply.cards)
    assert "Traceback" not in (reply.text or "")
    handler = ROUTER.matching(text)
    may_write = handler in WRITERS and (who != "stranger" or handler in CHANNEL_WRITERS)
    if not may_write:
        assert await fingerprint(engine) == before, f"{text[:80]!r} changed stored data"
