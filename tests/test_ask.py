"""Questions end to end: HTTP with Teams JSON, answer cards, paging, `planbot ask`, accuracy."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bench.ask_accuracy import score
from bot.app import create_app
from bot.cli_commands import ask_cmd, import_file
from bot.config import Settings
from cards.answer import (
    ActionLine,
    ActionView,
    ListView,
    SummaryView,
    UpdateLine,
    action_card,
    list_card,
    summary_card,
)
from storage.importers.registry import read_plan_file
from storage.plans import save_draft
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.fakes.connector import start_connector
from tests.truthcheck import PLANS

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HELD_OUT_FLOOR = 0.75  # measured 81.2 % (39/48) on its first and only blind run
QUESTIONS_HELD_OUT = Path(__file__).resolve().parent / "fixtures" / "questions_heldout.json"
ACCURACY_FLOOR = 0.95  # measured 97.6 % (README); the test fails if the score drops below this


@pytest.fixture
async def bot(engine, sessions):
    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    settings = Settings(app_id="", app_password="", local=True)
    client = TestClient(TestServer(create_app(settings, engine, clock=lambda: NOW),
                                   host="127.0.0.1"))
    await client.start_server()
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=NOW, draft=read_plan_file(
            PLANS / "manchester-improvement-plan-2015-rag.txt"))
    yield client, fake, url
    await client.close()
    await server.close()


async def test_red_in_quality_of_practice_answers_with_the_right_actions(bot):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.personal_message(
        url, "what's red in Quality of Practice?"))
    [card] = fake.cards()
    assert_valid_card(card)
    for ref in ("3a", "3b", "3c", "8a", "8b", "8c"):
        assert f"**{ref}**" in json.dumps(card, ensure_ascii=False)
    assert "6 actions" in json.dumps(card)


async def test_channel_mention_and_show_one_action_with_history(bot):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.channel_mention(url, "show 1.d"))
    [card] = fake.cards()
    assert_valid_card(card)
    text = json.dumps(card, ensure_ascii=False)
    assert "1d · Appoint an independent chair" in text and "History" in text
    assert re.search(r"\d+ \w{3} \d{4} · \S+ \w+ · import", text), text  # the import's update
    objective = next(fact["value"] for fact in _facts(card) if fact["title"] == "Objective")
    assert objective.startswith("1 ") and len(objective) > 10, objective  # its ref and text


async def test_long_answers_page_with_show_more(bot):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.personal_message(url, "what's amber?"))
    [card] = fake.cards()
    assert_valid_card(card)
    [more] = card["actions"]
    body = await (await client.post("/api/messages", json=teams.card_execute(
        url, more["verb"], more["data"]))).json()
    assert body["statusCode"] == 200
    assert_valid_card(body["value"])
    assert "showing 11–20" in json.dumps(body["value"], ensure_ascii=False)


async def test_nonsense_gets_help_not_a_stack_trace(bot):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.personal_message(url, "asdfgh qwerty"))
    message = fake.messages()[-1]
    assert message["text"].startswith("Sorry, I didn't understand")


@pytest.mark.parametrize("view", [
    ListView(title="Red actions", question="red", lines=[], total=0),
    ListView(title="Red", question="red", total=25, page=1, lines=[
        ActionLine(ref=f"{n}a", title="t " * 200, rag="red", leads=["Karen Dolton"] * 5,
                   due_text="Feb-15", due_date=date(2015, 2, 28), overdue=True)
        for n in range(25)]),
])
def test_list_cards_are_valid(view):
    assert_valid_card(list_card(view))


def test_action_and_summary_cards_are_valid():
    line = ActionLine(ref="2.4", title="Ensure feedback", rag=None, due_text="Ongoing")
    assert_valid_card(action_card(ActionView(line=line, history=[
        UpdateLine(when=date(2026, 11, 20), source="card", by="Vicki", rag="amber",
                   progress="x" * 3000, evidence="link")] * 10)))
    assert_valid_card(summary_card(SummaryView(title="RAG by theme", counts={
        "Quality of Practice": {"red": 3, "none": 2}, "Leadership": {"blue": 1}})))
    assert_valid_card(summary_card(SummaryView(title="RAG by theme", counts={})))


async def tameside_cli(tmp_path) -> Callable[..., Awaitable[str]]:
    """`planbot ask` on a database holding the Tameside plan: question -> what it prints."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await import_file(settings, PLANS / "tameside-improvement-plan-2023.txt", plan_name=None,
                      dry_run=False, out=io.StringIO())

    async def ask_(question: str, *, as_json: bool = False) -> str:
        out = io.StringIO()
        await ask_cmd(settings, question, today="2026-11-25", as_json=as_json, plan_name=None,
                      out=out)
        return out.getvalue()
    return ask_


async def test_planbot_ask_json_prints_the_query_and_refs(tmp_path):
    ask_ = await tameside_cli(tmp_path)
    result = json.loads(await ask_("what's overdue in leadership and workforce?", as_json=True))
    assert result["query"]["overdue"] is True
    assert set(result["refs"]) == {"4.1", "4.2", "4.11", "4.12"}  # Nov 23, Oct 23, Oct 24, Nov 24


async def test_the_labelled_questions_score_above_the_floor():
    report = await score()
    assert report["total"] >= 150
    assert report["correct"] / report["total"] >= ACCURACY_FLOOR, report


async def test_words_it_did_not_use_are_shown_and_no_due_date_works(bot):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.personal_message(
        url, "what's overdue in school readiness?"))
    card = json.dumps(fake.cards()[-1], ensure_ascii=False)
    assert "Note: ignored: school readiness" in card
    await client.post("/api/messages", json=teams.personal_message(
        url, "which actions have no due date?"))
    card = fake.cards()[-1]
    assert_valid_card(card)
    text = json.dumps(card, ensure_ascii=False)
    assert "**1a**" not in text and "**1c**" in text  # 1a is due Feb-15; 1c says "Completed"


async def test_the_held_out_questions_score_above_their_floor():
    """Written without looking at the parser; scored 39/48 when first run (README)."""
    report = await score(questions=QUESTIONS_HELD_OUT)
    assert report["total"] >= 45
    assert report["correct"] / report["total"] >= HELD_OUT_FLOOR, report


async def test_who_has_not_updated_names_the_leads(bot):
    client, fake, url = bot
    await client.post("/api/messages", json=teams.personal_message(url, "who hasn't updated?"))
    card = fake.cards()[-1]
    assert_valid_card(card)
    text = json.dumps(card, ensure_ascii=False)
    assert "**Leads:** " in text and "Karen Dolton (" in text


DEMO_PLAN = (Path(__file__).resolve().parent.parent / "storage" / "demo"
             / "manchester-improvement-plan-2015-rag.txt")


async def test_lexicon_sees_another_process_write_within_a_second(tmp_path, monkeypatch):
    """The vocabulary is cached: in-process writes are seen at once, another process's (here
    plain sqlite3, which SQLAlchemy never sees) once the stamp is read again (STAMP_TTL)."""
    import sqlite3
    from datetime import UTC, datetime

    from dialogs.ask import lexicon as lexicon_module
    from storage.db import make_engine, migrate, session_factory
    from storage.importers.registry import read_plan_file
    from storage.plans import save_draft

    monkeypatch.setattr(lexicon_module, "STAMP_TTL", 0.2)
    path = tmp_path / "lex.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=datetime(2026, 11, 1, tzinfo=UTC),
                         draft=read_plan_file(DEMO_PLAN))
    async with sessions() as session:
        before = await lexicon_module.lexicon(session=session)
    assert "Zebedee Quist" not in before.vocab.leads
    with sqlite3.connect(path) as raw:  # another process's import, unseen by SQLAlchemy
        raw.execute("INSERT INTO actionlead (action_id, name, role, position) "
                    "SELECT min(id), 'Zebedee Quist', 'lead', 9 FROM action")
    async with sessions() as session:
        cached = await lexicon_module.lexicon(session=session)
    assert cached is before  # inside STAMP_TTL: the cache is trusted
    await asyncio.sleep(0.25)
    async with sessions() as session:
        fresh = await lexicon_module.lexicon(session=session)
    assert "Zebedee Quist" in fresh.vocab.leads
    await engine.dispose()


async def test_an_answer_lists_an_actions_lead_cells_in_cell_order(sessions):
    """The leads come folded into the answer's one query; they keep the plan's cell order even
    when the rows were stored out of order."""
    from dialogs.ask.answer import run
    from dialogs.ask.lexicon import lexicon
    from storage.models import Action, ActionLead, Plan

    async with sessions() as session, session.begin():
        plan = Plan(slug="order-plan", name="Order plan", source_file="x", updated_at=NOW)
        session.add(plan)
        await session.flush()
        action = Action(plan_id=plan.id, ref="1a", ref_key="1a", text="Audit", rag="red",
                        position=0)
        session.add(action)
        await session.flush()
        for position, name in ((2, "AD Education Head of SEND"), (0, "S. Rawlinson"),
                               (1, "S Jackson")):
            session.add(ActionLead(action_id=action.id, name=name, position=position))
    async with sessions() as session:
        lex = await lexicon(session=session)
        answer = await run(session, lex.parse("what's red?", today=NOW.date()), lex,
                           today=NOW.date())
    [row] = answer.rows
    assert row.leads == ["S. Rawlinson", "S Jackson", "AD Education Head of SEND"]


async def test_a_list_cut_by_its_limit_still_says_how_many_there_are(sessions):
    from dialogs.ask.answer import run
    from dialogs.ask.lexicon import lexicon
    from storage.models import Action, Plan

    async with sessions() as session, session.begin():
        plan = Plan(slug="count-plan", name="Count plan", source_file="x", updated_at=NOW)
        session.add(plan)
        await session.flush()
        for position in range(5):
            session.add(Action(plan_id=plan.id, ref=f"1{'abcde'[position]}",
                               ref_key=f"1{'abcde'[position]}", text="Audit",
                               rag="red" if position != 2 else "green", position=position))
    async with sessions() as session:
        lex = await lexicon(session=session)
        query = lex.parse("what's red?", today=NOW.date())
        cut = await run(session, query, lex, today=NOW.date(), limit=2)
        whole = await run(session, query, lex, today=NOW.date(), limit=4)
    assert [row.action.ref for row in cut.rows] == ["1a", "1b"] and cut.total == 4
    assert len(whole.rows) == 4 and whole.total == 4


async def test_questions_with_the_same_filters_share_one_statement_and_keep_their_values(
        sessions):
    """The statement is built once per set of filters (its shape); the values are parameters,
    so "red in A" and "red in B" run one statement and still answer each from its own plan."""
    from dialogs.ask import answer as answer_module
    from dialogs.ask.lexicon import lexicon
    from storage.models import Action, Plan

    async with sessions() as session, session.begin():
        for slug, rag_of in (("alpha", ("red", "green")), ("bravo", ("green", "red", "red"))):
            plan = Plan(slug=slug, name=f"{slug.title()} Council plan", source_file="x",
                        updated_at=NOW)
            session.add(plan)
            await session.flush()
            for position, rag in enumerate(rag_of):
                ref = f"{slug[0]}{position}"
                session.add(Action(plan_id=plan.id, ref=ref, ref_key=ref, text="Audit", rag=rag,
                                   position=position))
    async with sessions() as session:
        lex = await lexicon(session=session)
        queries = [lex.parse(f"what's red in {name}?", today=NOW.date())
                   for name in ("Alpha", "Bravo")]
        shapes = [(await answer_module.filters(session, query, lex, today=NOW.date(),
                                               tz="Europe/London", asker_id=None))[0]
                  for query in queries]
        assert shapes[0] == shapes[1] == {"plan", "rags=1"}  # one RAG: "rag = ?", not IN
        assert answer_module.filtered(shapes[0]) is answer_module.filtered(shapes[1])
        answers = [await answer_module.run(session, query, lex, today=NOW.date(), limit=200)
                   for query in queries]
        both = lex.parse("red or green in Bravo", today=NOW.date())
        shape, values = await answer_module.filters(session, both, lex, today=NOW.date(),
                                                    tz="Europe/London", asker_id=None)
        assert shape == {"plan", "rags"} and values["rags"] == ["red", "green"]
        assert " IN " in str(answer_module.filtered(shape))
        assert " IN " not in str(answer_module.filtered(shapes[0]))
        assert (await answer_module.run(session, both, lex, today=NOW.date())).refs == [
            "b0", "b1", "b2"]
    assert [answer.refs for answer in answers] == [["a0"], ["b1", "b2"]]
    assert answer_module.filtered(frozenset({"plan"})) is not answer_module.filtered(shapes[0])


async def test_an_answers_statement_is_rendered_once_not_again_at_each_execution(sessions):
    """With one value per filter, the list statement has no literal-execute or expanding
    parameter (SQLAlchemy renders those into the SQL again at every execution): the leads'
    separator is written in the SQL, not sent as a literal parameter."""
    from dialogs.ask import answer as answer_module

    async with sessions() as session:
        dialect = (await session.connection()).dialect
    for shape in ({"plan", "rags=1"}, {"plan", "themes=1", "overdue"}, {"refs=1"}):
        for show in (False, True):
            compiled = answer_module._listed(frozenset(shape), show, 200).compile(
                dialect=dialect)
            assert not compiled.literal_execute_params and not compiled.post_compile_params, (
                shape, show)
    many = answer_module._listed(frozenset({"rags"}), False, 200).compile(dialect=dialect)
    assert many.post_compile_params  # two values or more: an expanding IN, as it must be


def _facts(element) -> list[dict]:
    """Every FactSet fact in a card."""
    if isinstance(element, dict):
        return list(element.get("facts", [])) + [f for value in element.values()
                                                 for f in _facts(value)]
    return [f for item in element for f in _facts(item)] if isinstance(element, list) else []


async def test_an_answer_row_gives_its_dates_typed_on_every_database(sessions):
    """Rows carry their dates as the driver stored them (not converted for all 200 rows); the
    ones a card shows come out as a date and an aware UTC datetime, on SQLite and PostgreSQL."""
    from datetime import UTC, date, datetime

    from dialogs.ask.answer import run
    from dialogs.ask.lexicon import lexicon
    from storage.models import Action, Plan

    updated = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    async with sessions() as session, session.begin():
        plan = Plan(slug="dates-plan", name="Dates plan", source_file="x", updated_at=NOW)
        session.add(plan)
        await session.flush()
        session.add_all([
            Action(plan_id=plan.id, ref="1a", ref_key="1a", text="Audit", rag="red", position=0,
                   due_text="Feb-15", due_date=date(2015, 2, 28), last_update_at=updated),
            Action(plan_id=plan.id, ref="1b", ref_key="1b", text="Plan", rag="red", position=1,
                   due_text="Ongoing")])
    async with sessions() as session:
        lex = await lexicon(session=session)
        answer = await run(session, lex.parse("what's red?", today=NOW.date()), lex,
                           today=NOW.date())
    first, second = answer.rows
    assert first.due_date == date(2015, 2, 28) and type(first.due_date) is date
    assert first.last_update == updated and first.last_update.utcoffset().total_seconds() == 0
    assert second.due_date is None and second.last_update is None


async def test_planbot_ask_prints_one_line_per_action_even_for_multiline_cells(tmp_path):
    """Tameside's 1.2 is written over several lines ("include;" then bullets): the listing
    keeps it on its own line, so `planbot ask ... | grep` and `| wc -l` work."""
    ask_ = await tameside_cli(tmp_path)
    printed = await ask_("what's overdue in quality of practice?")
    heading, *lines = printed.splitlines()
    assert heading.endswith(f": {len(lines)}") and len(lines) >= 2, printed
    assert all(line.startswith("  ") and line.count("\t") == 4 for line in lines), lines
    assert any("include; • Clear lines" in line for line in lines), lines
    summary = await ask_("summary")
    assert "Quality of Practice: not rated 10" in summary, summary  # the plan has no RAGs yet
