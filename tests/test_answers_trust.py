"""Issue 16, answers that say what they mean: one definition of "went red" and "went worse" in
chat, digest and board report (the import is the baseline); card titles that restate the
question; a help card listing what planbot does; chat wording; plan names with digits; a
vocabulary built in linear time, off the event loop."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import String, literal, select

from cards.help import HelpView, help_card
from dialogs.ask import lexicon as lexicon_module
from dialogs.ask.dialog import answer_text, ask, reply_for
from dialogs.ask.lexicon import Lexicon
from dialogs.ask.parse import Matcher
from dialogs.ask.query import Vocabulary
from dialogs.context import Deps, Turn
from dialogs.digest import digest_view
from dialogs.help import build_router
from storage.export.figures import analyse, board_data
from storage.export.links import DownloadLinks
from storage.export.snapshot import snapshot
from storage.importers.registry import read_plan_file
from storage.models import Action, Plan
from storage.people import link_lead, upsert_person
from storage.plans import save_draft
from storage.rules import Rag
from storage.updates import record_update
from tests.truthcheck import PLANS

TZ = "Europe/London"
MANCHESTER = PLANS / "manchester-improvement-plan-2015-rag.txt"
TAMESIDE = PLANS / "tameside-improvement-plan-2023.txt"
IMPORTED = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday
TODAY = date(2026, 11, 25)


# --- Case 11: the import is the baseline; chat, digest and board report agree -----------------


async def _figures(sessions, now: datetime) -> dict[str, list[str]]:
    """Went red / went worse / went Blue as chat, the digest and the board report say them."""
    today = now.date()
    async with sessions() as session:
        plan = (await session.execute(select(Plan))).scalar_one()

        async def chat(question: str) -> list[str]:
            return sorted((await ask(session, question, today=today, tz=TZ)).refs)

        view = await digest_view(session, plan, now=now, tz=TZ)
        board = analyse(snap := await snapshot(session=session, plan=plan, as_of=today, tz=TZ),
                        await board_data(session, snap))
        return {
            "chat went red": await chat("what went red this week"),
            "chat got worse": await chat("what got worse this week"),
            "chat went blue": await chat("what went blue this week"),
            "chat changed": await chat("what changed this week"),
            "digest went red or worse": sorted(line.ref for line in view.worse),
            "digest newly blue": sorted(line.ref for line in view.new_blue),
            "board went worse": sorted(change.action.ref for change in board.worse),
            "board new blue": sorted(change.action.ref for change in board.new_blue),
        }


async def test_an_import_is_no_change_and_chat_digest_and_board_give_the_same_figures(sessions):
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=IMPORTED, draft=read_plan_file(MANCHESTER))
        reds = (await session.execute(select(Action.ref).where(Action.rag == "red"))).all()
    assert len(reds) == 22  # red in the file: already red, not "went red"
    at_once = await _figures(sessions, IMPORTED)
    assert at_once == dict.fromkeys(at_once, [])
    async with sessions() as session:
        view = await digest_view(session, (await session.execute(select(Plan))).scalar_one(),
                                 now=IMPORTED, tz=TZ)
    assert all(now == before for rags in view.counts.values() for now, before in rags.values())

    async with sessions() as session, session.begin():  # a lead's card: 4a Amber -> Red
        actions = {a.ref: a for a in (await session.execute(select(Action))).scalars()}
        assert actions["4a"].rag == "amber"
        await record_update(session=session, action=actions["4a"], source="card", rag="red",
                            at=IMPORTED + timedelta(hours=2), by_name="Karen Dolton")
        await record_update(session=session, action=actions["3d"], source="chat", rag="blue",
                            evidence="audit report", at=IMPORTED + timedelta(hours=3))
    later = await _figures(sessions, IMPORTED + timedelta(hours=4))
    assert later == {"chat went red": ["4a"], "chat got worse": ["4a"], "chat went blue": ["3d"],
                     "chat changed": ["3d", "4a"], "digest went red or worse": ["4a"],
                     "digest newly blue": ["3d"], "board went worse": ["4a"],
                     "board new blue": ["3d"]}


async def test_a_re_import_that_changes_a_rating_is_a_change(sessions):
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=IMPORTED - timedelta(days=1),
                         draft=read_plan_file(MANCHESTER))
    draft = read_plan_file(MANCHESTER)
    changed = next(action for _, action in draft.all_actions() if action.ref == "4a")
    changed.rag = "Red"  # the file now says Red where it said Amber
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, now=IMPORTED, draft=draft)
    assert report.updates_added == 1
    figures = await _figures(sessions, IMPORTED + timedelta(hours=1))
    assert figures["chat went red"] == figures["digest went red or worse"] == ["4a"]
    assert figures["board went worse"] == figures["chat got worse"] == ["4a"]
    assert figures["chat changed"] == ["4a"]


RAGS = [None, "red", "amber", "green", "blue"]


async def test_the_sql_rule_is_the_python_rule_for_every_pair_of_ratings(sessions):
    from storage.changes import (  # new in issue 16 (imported here: the file runs on old code)
        got_better,
        got_better_sql,
        went_to,
        went_to_sql,
        went_worse,
        went_worse_sql,
    )

    async with sessions() as session:
        for before in RAGS:
            for after in RAGS:
                b, a = literal(before, String), literal(after, String)
                sql = (await session.execute(select(
                    went_worse_sql(b, a), got_better_sql(b, a),
                    *[went_to_sql(a == rag.value, b, a) for rag in Rag]))).one()
                python = (went_worse(before, after), got_better(before, after),
                          *[went_to(rag, before, after) for rag in Rag])
                assert tuple(bool(x) for x in sql) == python, (before, after)


# --- Case 17: a card's title restates the question -----------------------------------------------


@pytest.fixture
async def manchester(sessions):
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=IMPORTED - timedelta(days=60),
                         draft=read_plan_file(MANCHESTER))


@pytest.mark.parametrize(("question", "title"), [
    ("what went red this week", "Went red since Mon 23 Nov"),
    ("due before march 2015", "Due before March 2015"),
    ("what got worse since last week", "Got worse since Wed 18 Nov"),
    ("what changed this week", "Changed since Mon 23 Nov"),
    ("what's improved this month", "Got better since Sun 1 Nov"),
    ("what hasn't been updated for 3 weeks", "No update for 3 weeks"),
    ("what's due in March 2026", "Due in March 2026"),
    ("what's due this month", "Due this month (November 2026)"),
    ("what's due by end of june", "Due by end of June (by 30 Jun 2027)"),
    ("red actions for Karen Dolton", "Red actions for Karen Dolton"),
    ("next month", "Due next month (December 2026)"),  # the phrase is the whole question
    ("NEXT%MONTH", "Due next month (December 2026)"),
    ("what's overdue", "Overdue actions"),
    ("amber actions due before June in quality of practice",
     "Amber actions in Quality of practice and capacity, due before June (by 31 May 2027)"),
])
async def test_a_cards_title_is_what_was_asked(sessions, manchester, question, title):
    async with sessions() as session:
        answer = await ask(session, question, today=TODAY, tz=TZ)
        reply = await reply_for(session, answer, today=TODAY)
    heading = reply.cards[0]["body"][0]["text"]
    assert heading == title


# --- Case 18: help lists what planbot does; unlinked askers are told why; chat wording --------


def test_the_help_card_gives_an_example_of_every_command_and_each_one_works():
    from cards.help import admin_commands, commands

    router = build_router()
    card = str(help_card(HelpView(example_ref="3a")))
    handled = set()
    for _, example in commands("3a") + admin_commands():
        assert example in card
        handler = router.matching(example)
        if handler is None:  # a question: the parser answers it
            query = Matcher(Vocabulary(refs=["3a"])).parse(example, today=TODAY)
            assert query.intent in ("summary", "not_updated"), example
        else:
            handled.add(handler.__name__)
    assert {"update_by_chat", "snooze", "back", "delegate", "export_plan", "board_report",
            "subscribe", "unsubscribe", "link", "unlink", "unlinked", "own_plan"} <= handled
    # Every command the router knows is on the card (help and the plan list excepted).
    known = {handler.__name__ for _, handler in router._intents} - {"show_help"}
    assert known <= handled, known - handled


async def test_my_actions_for_someone_linked_to_no_lead_says_why(sessions, manchester):
    async with sessions() as session, session.begin():
        await upsert_person(session=session, display_name="Pat Newman", teams_user_id="29:pat",
                            aad_object_id="aad-pat", email=None, now=IMPORTED)
        karen = await upsert_person(session=session, display_name="Kay D", email=None,
                                    teams_user_id="29:karen", aad_object_id="aad-karen",
                                    now=IMPORTED)
        assert await link_lead(session=session, lead="Karen Dolton", person=karen) > 0
    deps = Deps(sessions=sessions, clock=lambda: IMPORTED)
    reply = await answer_text(Turn(text="my actions", user_name="Pat Newman", user_id="29:pat",
                                   user_aad_id="aad-pat"), deps)
    assert reply.text and "not linked to any lead" in reply.text and "link" in reply.text
    assert "Pat Newman" in reply.text and not reply.cards
    linked = await answer_text(Turn(text="my actions", user_id="29:karen",
                                    user_aad_id="aad-karen"), deps)
    assert linked.cards and "actions" in str(linked.cards[0])  # Karen's list, not the hint


async def test_a_report_before_the_import_is_refused_in_chat_words(sessions):
    async with sessions() as session, session.begin():
        await save_draft(session=session, now=datetime(2026, 11, 1, tzinfo=UTC),
                         draft=read_plan_file(MANCHESTER))
    deps = Deps(sessions=sessions, clock=lambda: IMPORTED,
                links=DownloadLinks(key=b"test-key", base_url="https://planbot.example"))
    reply = await build_router().route_text(Turn(text="board report as of 1 October 2026"),
                                            deps)
    assert "is before the plan" in reply.text and "1 October 2026" in reply.text
    assert "--" not in reply.text and "as-of" not in reply.text


# --- Case 19: a plan name with a digit is a plan, not a date -----------------------------------


async def test_board_report_for_a_plan_whose_name_has_a_year(sessions):
    async with sessions() as session, session.begin():
        for path in (MANCHESTER, TAMESIDE):
            report = await save_draft(session=session, now=datetime(2026, 9, 1, tzinfo=UTC),
                                      draft=read_plan_file(path))
        report.plan.name = "Improvement Plan 2023"
    deps = Deps(sessions=sessions, clock=lambda: IMPORTED,
                links=DownloadLinks(key=b"test-key", base_url="https://planbot.example"))
    router = build_router()
    for text, day in (("board report for Improvement Plan 2023", "25 November 2026"),
                      ("board report for improvement plan 2023 as of 1 November 2026",
                       "01 November 2026"),
                      ("export the plan to Excel for Improvement Plan 2023", "25 November 2026"),
                      ("export Improvement Plan 2023 to Excel", "25 November 2026"),
                      ("download improvement plan 2023 as csv as of 1 November 2026",
                       "01 November 2026")):
        reply = await router.route_text(Turn(text=text), deps)
        assert reply.cards, (text, reply.text)
        card = str(reply.cards[0])
        assert "Improvement Plan 2023" in card and day in card, (text, card)
    # A selection is not a plan: asked back, never the whole plan (nor a question about "Excel").
    for text in ("export the overdue actions to Excel", "get me red actions as csv"):
        reply = await router.route_text(Turn(text=text), deps)
        assert not reply.cards and "not a selection" in reply.text, (text, reply)


# --- Case 22: the vocabulary is built in linear time, off the event loop ------------------------


def _brute_under(refs: list[str], objective: str) -> list[str]:
    """The definition refs_under must keep (the old per-objective scan)."""
    lows = {ref.strip().lower(): ref for ref in refs}
    head = objective.strip().lower()
    return [ref for low, ref in lows.items() if low.startswith(head)
            and not low[len(head):][:1].isdigit()]


def _vocabulary(n: int, seed: int = 7) -> Vocabulary:
    """n objectives and n action refs shaped like real plans ("12", "12a"; "CS18001", ".A")."""
    rng = random.Random(seed)
    objectives, refs = {}, []
    for i in range(n):
        objective = f"CS{18000 + i}" if i % 2 else str(i + 1)
        objectives[objective] = " ".join(rng.choice(
            "improve the quality of social work practice with children families leaving care "
            "placements stability workforce recruitment audit early help".split())
            for _ in range(12))
        refs.append(f"{objective}.{'ABCDE'[i % 5]}" if i % 2 else f"{objective}{'abcde'[i % 5]}")
    return Vocabulary(plans=["Plan"], themes=["Theme"], leads=["Karen Dolton"], refs=refs,
                      objectives=objectives)


def test_refs_under_keeps_the_definition():
    from dialogs.ask.parse import refs_under

    vocab = _vocabulary(300)
    found = refs_under(vocab.refs, vocab.objectives)
    for objective in vocab.objectives:
        assert found.get(objective.strip().lower(), []) == _brute_under(vocab.refs, objective)
    real = ["1.1", "1.10", "1.2", "2.3", "23", "23a", "CS18005.A", "CS18005.B", " 4a", "4A"]
    for objective in ("1.1", "1", "2", "23", "CS18005", "4"):
        assert refs_under(real, [objective]).get(objective.lower(), []) == _brute_under(
            real, objective), objective


def _build_seconds(vocab: Vocabulary, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        Matcher(vocab)
        best = min(best, time.perf_counter() - started)
    return best


def test_the_parser_is_built_in_time_that_grows_linearly():
    small, large = _vocabulary(2_000), _vocabulary(10_000)
    small_s = _build_seconds(small, 5)
    large_s = _build_seconds(large, 2)
    if large_s > 1.0:  # once more before failing: another process may have had the CPU
        large_s = min(large_s, _build_seconds(large, 1))
    assert large_s < 1.0, large_s  # ~0.3 s here; it took 20 s (objectives x refs) before
    # 5x the data: ~5x when linear, ~25x when quadratic; a loaded machine (another process
    # taking the CPU in one of the two timings) has been seen to give 11x, hence the margin.
    assert large_s / small_s < 15, (small_s, large_s)


async def test_the_first_question_after_an_import_does_not_stall_other_requests(
        sessions, monkeypatch):
    lex = Lexicon(_vocabulary(10_000), {"Karen Dolton": ["Karen Dolton"]})
    built: list[float] = []
    build = Matcher.__init__

    async def read(session):
        return lex

    def timed_build(self, vocab):  # the parser's tables for the vocabulary, wherever built
        built.append(time.perf_counter())
        build(self, vocab)
        built.append(time.perf_counter())

    monkeypatch.setattr(lexicon_module, "read_lexicon", read)
    monkeypatch.setattr(Matcher, "__init__", timed_build)
    ticks, done = [], asyncio.Event()

    async def other_requests() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(other_requests())
    await asyncio.sleep(0.01)
    async with sessions() as session:
        answer = await ask(session, "what's red?", today=TODAY, tz=TZ)
    done.set()
    await ticker
    assert answer.query.intent == "list" and len(built) == 2  # built once, for this question
    start, end = built
    during = [t for t in ticks if start <= t <= end]
    gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=True)]
    # The event loop kept turning while the vocabulary was built. Built on the loop, the
    # loop stops for the whole build (one gap as long as the build: 0.3 s, 20 s before).
    assert len(during) >= 5 and max(gaps) < (end - start) / 2, (
        end - start, len(during), max(gaps))


async def test_while_the_vocabulary_is_built_other_requests_get_the_database(engine, sessions,
                                                                               monkeypatch):
    """SQLite has one connection per process: a question building a large vocabulary gives it
    back for the build, so /healthz and other turns are not held up (the blind check saw
    /healthz wait 0.68 s behind the first question after a 10,000-action import)."""
    from sqlalchemy import text

    from storage.db import reading

    lex = Lexicon(_vocabulary(10_000), {"Karen Dolton": ["Karen Dolton"]})
    started, finished = asyncio.Event(), []
    build = Matcher.__init__

    async def read(session):
        return lex

    def slow_build(self, vocab):
        started.set()
        build(self, vocab)
        time.sleep(0.3)  # a slower machine
        finished.append(time.perf_counter())

    monkeypatch.setattr(lexicon_module, "read_lexicon", read)
    monkeypatch.setattr(Matcher, "__init__", slow_build)

    async def question():
        async with reading(sessions) as session:
            answer = await ask(session, "what's red?", today=TODAY, tz=TZ)
        return answer

    async def health() -> float:
        await started.wait()
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return time.perf_counter()

    answer, healthy = await asyncio.wait_for(asyncio.gather(question(), health()), 60)
    assert answer.query.intent == "list"
    assert healthy < finished[0], "the health check waited for the vocabulary to be built"
