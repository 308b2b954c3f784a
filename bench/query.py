"""Benchmark 4 of issue 6: questions and the weekly digest at regional scale.

Run: .venv/bin/python -m bench.query [--database-url URL] [--scale 1.0] [--repeat 30] [--seed 1]
     [--explain]
Seeds (or reuses) the synthetic dataset of bench/seed.py: 150 plans, 10,000 people, 20,000
actions, 1,000,000 status updates over two years (SQLite: cached under bench/.data/ by scale and
seed; PostgreSQL: a fresh schema `bench_query`, dropped at the end unless --keep). Then asks 20
typical questions about one plan the way the bot answers a chat turn (dialogs.ask.dialog.
answer_text: the asker looked up, the lexicon, parse, SQL, the answer card), each beside the
hand-written SQL for the same question in the same run, and checks both return the same rows.
Prints p50/p95 per question and overall, the ratio to hand-written SQL, the weekly digest of the
300-action plan, the process's peak RSS and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import cpu_model
from bench.seed import NOW, TODAY, drop_schema
from cards.digest import digest_card
from dialogs.ask.answer import run
from dialogs.ask.dialog import MAX_ROWS, answer_text, ask, reply_for
from dialogs.ask.lexicon import lexicon, lexicon_stamp
from dialogs.auth import acting_person
from dialogs.context import Deps, Turn
from dialogs.digest import digest_view
from storage.db import make_engine, reading, session_factory
from storage.models import Action, ActionLead, Person, Plan, Theme, UTCDateTime
from storage.rules import ref_key

TZ = "Europe/London"
DATA = Path(__file__).resolve().parent / ".data"
TARGETS = {"p95_ms": 20.0, "ratio": 2.0, "digest_p95_ms": 100.0, "rss_mb": 300.0}


def day_start(day: date) -> datetime:
    """Midnight of a day in the bot's time zone, in UTC (what the pipeline compares with)."""
    return datetime.combine(day, clock(0), tzinfo=ZoneInfo(TZ)).astimezone(UTC)


def month_bounds(day: date, shift: int = 0) -> tuple[date, date]:
    """First and last day of the month `shift` months after the one holding `day`."""
    index = day.year * 12 + day.month - 1 + shift
    first = date(index // 12, index % 12 + 1, 1)
    after = date((index + 1) // 12, (index + 1) % 12 + 1, 1)
    return first, after - timedelta(days=1)


@dataclass
class Facts:
    """What the questions are about, read from the seeded database."""

    plan_id: int
    plan: str  # the plan's full name
    council: str  # how people name it in a question ("Barnsley")
    theme: str
    theme2: str
    person: str  # a lead of several actions, as written
    me_id: int  # the asker of "my actions"
    me_name: str
    me_aad: str
    ref: str


async def read_facts(session: AsyncSession) -> Facts:
    """The benchmark plan (plan 1, the 300-action one), two of its themes, two of its leads
    (the first: most actions among leads with a red one, so 'red actions for X' finds some)."""
    plan = await session.get(Plan, 1)
    themes = list((await session.execute(select(Theme.name).where(Theme.plan_id == 1)
                                          .order_by(Theme.position))).scalars())
    leads = (await session.execute(
        select(ActionLead.person_id, ActionLead.name, sa.func.count())
        .join(Action, Action.id == ActionLead.action_id)
        .where(Action.plan_id == 1, ActionLead.person_id.is_not(None))
        .group_by(ActionLead.person_id, ActionLead.name)
        .order_by(sa.func.max(sa.case((Action.rag == "red", 1), else_=0)).desc(),
                  sa.func.count().desc(), ActionLead.person_id).limit(2))).all()
    me = await session.get(Person, leads[1][0])
    ref = (await session.execute(select(Action.ref).where(Action.plan_id == 1)
                                 .order_by(Action.position).offset(40).limit(1))).scalar()
    return Facts(plan_id=1, plan=plan.name, council=plan.organisation.removesuffix(" Council"),
                 theme=themes[0], theme2=themes[2], person=leads[0][1], me_id=me.id,
                 me_name=me.display_name, me_aad=me.aad_object_id, ref=ref)


# --- The questions and their hand-written SQL ------------------------------------------------

_ROWS = """SELECT a.id, a.ref, a.text, a.rag, a.due_text, a.due_date, a.last_update_at,
       p.name AS plan, t.name AS theme, {leads} AS leads
FROM action a JOIN plan p ON p.id = a.plan_id LEFT JOIN theme t ON t.id = a.theme_id
WHERE p.name = :plan AND {where}
ORDER BY p.name, a.position LIMIT 200"""
_OPEN = "(a.rag IS NULL OR a.rag <> 'blue')"
_LEAD = "a.id IN (SELECT action_id FROM actionlead WHERE name = :person)"


def _since(condition: str = "") -> str:
    return ("EXISTS (SELECT 1 FROM statusupdate u WHERE u.action_id = a.id AND u.at >= :since"
            + (f" AND {condition}" if condition else "") + ")")


_AT_START = ("(SELECT s.rag FROM statusupdate s WHERE s.action_id = a.id AND (s.at < :since OR "
             "(s.source = 'import' AND NOT EXISTS (SELECT 1 FROM statusupdate e WHERE "
             "e.action_id = a.id AND (e.at < s.at OR (e.at = s.at AND e.id < s.id))))) "
             "ORDER BY s.at DESC, s.id DESC LIMIT 1)")
_SEVERITY = ("CASE {} WHEN 'blue' THEN 0 WHEN 'green' THEN 1 WHEN 'amber' THEN 2 "
             "WHEN 'red' THEN 3 END")


@dataclass
class Question:
    """One benchmark question: its text, its hand-written SQL and the parameters it needs."""

    key: str
    text: str  # with {council}, {theme}, {theme2}, {person}, {ref}
    where: str | None  # the WHERE of a list answer; None: a special statement below
    params: Callable[[Facts], dict] = lambda facts: {}


QUESTIONS = [
    Question("red", "what's red in {council}?", "a.rag = 'red'"),
    Question("red_theme", "what's red in {theme} in {council}?",
             "a.rag = 'red' AND t.name = :theme", lambda f: {"theme": f.theme}),
    Question("overdue", "what's overdue in {council}?", f"a.due_date < :today AND {_OPEN}"),
    Question("overdue_theme", "overdue actions in {theme2} in {council}",
             f"a.due_date < :today AND {_OPEN} AND t.name = :theme",
             lambda f: {"theme": f.theme2}),
    Question("changed_week", "what changed this week in {council}?", _since(),
             lambda f: {"since": day_start(TODAY - timedelta(days=TODAY.weekday()))}),
    # Changes as storage/changes.py defines them: the RAG at the window's start (the latest
    # update before it, or the action's first update when that is an import: the baseline)
    # against the RAG now.
    Question("went_red_month", "what went red this month in {council}?",
             f"a.rag = 'red' AND coalesce({_AT_START}, '') <> 'red'",
             lambda f: {"since": day_start(TODAY.replace(day=1))}),
    Question("worse_month", "what got worse this month in {council}?",
             f"{_SEVERITY.format('a.rag')} > {_SEVERITY.format(_AT_START)}",
             lambda f: {"since": day_start(TODAY.replace(day=1))}),
    Question("person", "{person}'s actions", _LEAD, lambda f: {"person": f.person}),
    Question("person_red", "red actions for {person}", "a.rag = 'red' AND " + _LEAD,
             lambda f: {"person": f.person}),
    Question("mine", "what are my actions?",
             "a.id IN (SELECT action_id FROM actionlead WHERE person_id = :me OR name = :name)",
             lambda f: {"me": f.me_id, "name": f.me_name}),
    Question("show", "show {ref} in {council}", None, lambda f: {"key": ref_key(f.ref)}),
    Question("summary", "summary for {council}", None),
    Question("stale_3w", "no update for 3 weeks in {council}", f"{_OPEN} AND NOT " + _since(),
             lambda f: {"since": day_start(TODAY - timedelta(days=21))}),
    Question("not_updated", "who hasn't updated in {council}?", f"{_OPEN} AND NOT " + _since(),
             lambda f: {"since": day_start(TODAY - timedelta(days=7))}),
    Question("due_month", "what's due this month in {council}?",
             "a.due_date >= :lo AND a.due_date <= :hi",
             lambda f: dict(zip(("lo", "hi"), month_bounds(TODAY), strict=True))),
    Question("due_next_month", "what's due next month in {council}?",
             "a.due_date >= :lo AND a.due_date <= :hi",
             lambda f: dict(zip(("lo", "hi"), month_bounds(TODAY, 1), strict=True))),
    Question("amber_overdue", "amber and overdue in {council}",
             f"a.rag = 'amber' AND a.due_date < :today AND {_OPEN}"),
    Question("amber", "what's amber in {council}?", "a.rag = 'amber'"),
    Question("no_rag", "what's not rated in {council}?", "a.rag IS NULL"),
    Question("no_due", "actions with no due date in {council}", "a.due_date IS NULL"),
]


def question_text(question: Question, facts: Facts) -> str:
    """The question as a person would type it about the benchmark plan."""
    return question.text.format(**facts.__dict__)


def _typed(params: dict) -> list[sa.BindParameter]:
    types = {datetime: UTCDateTime(), date: sa.Date()}
    return [sa.bindparam(name, value, type_=types.get(type(value))) for name, value in
            params.items()]


def hand_sql(question: Question, facts: Facts, dialect: str) -> list[sa.TextClause]:
    """The hand-written statements for a question (the first gives the compared rows)."""
    params = {"plan": facts.plan, "today": TODAY, **question.params(facts)}
    leads = ("(SELECT string_agg(name, '; ' ORDER BY position) FROM actionlead "
             "WHERE action_id = a.id)" if dialect == "postgresql" else
             "(SELECT group_concat(name, '; ') FROM actionlead WHERE action_id = a.id)")
    if question.key == "summary":
        sql = ["SELECT coalesce(t.name, p.name), a.rag, count(*) FROM action a "
               "JOIN plan p ON p.id = a.plan_id LEFT JOIN theme t ON t.id = a.theme_id "
               "WHERE p.name = :plan GROUP BY coalesce(t.name, p.name), a.rag"]
    elif question.key == "show":
        found = ("SELECT a.id FROM action a JOIN plan p ON p.id = a.plan_id "
                 "WHERE p.name = :plan AND a.ref_key = :key")
        sql = [_ROWS.format(leads=leads, where="a.ref_key = :key"),
               f"SELECT * FROM statusupdate WHERE action_id = ({found}) "
               "ORDER BY at DESC, id DESC LIMIT 10"]
    else:
        sql = [_ROWS.format(leads=leads, where=question.where)]
    return [text(s).bindparams(*_typed({k: v for k, v in params.items() if f":{k}" in s}))
            for s in sql]


def rows_of(question: Question, rows: list) -> object:
    """What is compared: the action ids in order, or the summary's counts."""
    if question.key == "summary":
        counts: dict[str, dict[str, int]] = {}
        for theme, rag, n in rows:
            counts.setdefault(theme, {})[rag or "none"] = n
        return counts
    return [row[0] for row in rows]


def pipeline_rows(question: Question, answer) -> object:
    """The same from the pipeline's Answer."""
    return answer.counts if question.key == "summary" else [r.action.id for r in answer.rows]


# --- Measuring ---------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


async def check(sessions, facts: Facts, dialect: str) -> dict[str, tuple[object, object]]:
    """Every question's pipeline rows and hand-written rows (for the equality check)."""
    out = {}
    for question in QUESTIONS:
        async with sessions() as session:
            answer = await ask(session, question_text(question, facts), today=TODAY, tz=TZ,
                               asker_id=facts.me_id, limit=MAX_ROWS)
            got = pipeline_rows(question, answer)
            statements = hand_sql(question, facts, dialect)
            want = rows_of(question, (await session.execute(statements[0])).all())
        out[question.key] = (got, want)
    return out


async def time_turn(deps: Deps, turn: Turn) -> float:
    """One chat turn as the bot answers it, in ms."""
    started = time.perf_counter()
    reply = await answer_text(turn, deps)
    elapsed = (time.perf_counter() - started) * 1000
    if reply is None or not (reply.cards or reply.text):
        raise AssertionError(f"no answer to {turn.text!r}")
    return elapsed


PHASES = ("session", "lexicon", "parse", "asker + SQL", "card")


async def time_phases(deps: Deps, turn: Turn) -> list[float]:
    """One turn's steps, as answer_text takes them, each timed apart (ms): the read-only
    session (open and end), the lexicon check, the parse, the asker and the SQL, the card."""
    today = deps.today()
    started = time.perf_counter()
    async with reading(deps.sessions) as session:
        opened = time.perf_counter()
        lex = await lexicon(session=session)
        checked = time.perf_counter()
        query = lex.parse(turn.text, today=today)
        parsed = time.perf_counter()
        asker = await acting_person(session, turn) if query.mine else None
        answer = await run(session, query, lex, today=today, tz=deps.timezone,
                           asker_id=asker.id if asker else None, limit=MAX_ROWS)
        answered = time.perf_counter()
        await reply_for(session, answer, today=today)
        carded = time.perf_counter()
    ended = time.perf_counter()
    return [took * 1000 for took in (opened - started + ended - carded, checked - opened,
                                       parsed - checked, answered - parsed, carded - answered)]


async def time_hand(sessions, statements) -> float:
    """The hand-written SQL of one question, rows fetched, in ms."""
    started = time.perf_counter()
    async with reading(sessions) as session:  # the same read-only session the pipeline uses
        for statement in statements:
            (await session.execute(statement)).all()
    return (time.perf_counter() - started) * 1000


async def explain(engine, sessions, deps: Deps, facts: Facts, dialect: str) -> None:
    """Print the plan of every statement the pipeline runs for each question."""
    captured: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        for question in QUESTIONS:
            captured.clear()
            await answer_text(Turn(text=question_text(question, facts), user_aad_id=facts.me_aad),
                              deps)
            print(f"\n### {question.key}: {question_text(question, facts)}")
            async with engine.connect() as connection:
                for statement, parameters in list(captured):
                    if "max(plan.updated_at)" in statement:
                        continue
                    prefix = "EXPLAIN ANALYZE " if dialect == "postgresql" else \
                        "EXPLAIN QUERY PLAN "
                    result = await connection.exec_driver_sql(prefix + statement, parameters)
                    print("--", " ".join(statement.split())[:160])
                    for row in result.all():
                        print("   ", row[-1])
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)


async def bench(url: str, schema: str | None, repeat: int, do_explain: bool) -> dict:
    """Time every question (pipeline and hand-written) and the digest; check the rows."""
    engine = make_engine(url, schema=schema)
    dialect = engine.dialect.name
    sessions = session_factory(engine)
    deps = Deps(sessions=sessions, clock=lambda: NOW, timezone=TZ)
    report: dict = {"dialect": dialect}
    try:
        async with sessions() as session:
            facts = await read_facts(session)
            started = time.perf_counter()
            await lexicon(session=session)
            report["lexicon_cold_ms"] = (time.perf_counter() - started) * 1000
        checked = await check(sessions, facts, dialect)
        report["mismatches"] = {key: pair for key, pair in checked.items() if pair[0] != pair[1]}
        report["answered"] = {key: len(got) for key, (got, _) in checked.items()}
        turns = {q.key: Turn(text=question_text(q, facts), user_aad_id=facts.me_aad)
                 for q in QUESTIONS}
        hands = {q.key: hand_sql(q, facts, dialect) for q in QUESTIONS}
        for q in QUESTIONS:  # warm up: statement caches, the lexicon's matcher caches
            await time_turn(deps, turns[q.key])
            await time_hand(sessions, hands[q.key])
        pipe: dict[str, list[float]] = {q.key: [] for q in QUESTIONS}
        hand: dict[str, list[float]] = {q.key: [] for q in QUESTIONS}
        for _ in range(repeat):
            for q in QUESTIONS:
                pipe[q.key].append(await time_turn(deps, turns[q.key]))
                hand[q.key].append(await time_hand(sessions, hands[q.key]))
        phases: list[list[float]] = [[] for _ in PHASES]
        for _ in range(repeat):
            for q in QUESTIONS:
                for values, took in zip(phases, await time_phases(deps, turns[q.key]), strict=True):
                    values.append(took)
        stamp = []
        for _ in range(repeat):
            async with sessions() as session:
                started = time.perf_counter()
                await lexicon_stamp(session)
                stamp.append((time.perf_counter() - started) * 1000)
        digest = []
        async with sessions() as session:
            plan = await session.get(Plan, facts.plan_id)
            actions = (await session.execute(select(sa.func.count()).where(
                Action.plan_id == plan.id))).scalar()
        for _ in range(repeat + 1):
            async with sessions() as session:
                started = time.perf_counter()
                digest_card(await digest_view(session, plan, now=NOW, tz=TZ))
                digest.append((time.perf_counter() - started) * 1000)
        digest = digest[1:]  # the first one warms the statement cache
        if do_explain:
            await explain(engine, sessions, deps, facts, dialect)
    finally:
        await engine.dispose()
    report.update(facts=facts.__dict__, pipe=pipe, hand=hand, stamp=stamp, digest=digest,
                  phases=dict(zip(PHASES, phases, strict=True)),
                  digest_actions=actions)
    return report


def seed(args) -> dict:
    """Seed in a child process (its memory is not the benchmark's); reuse a cached SQLite file."""
    postgres = bool(args.database_url) and not args.database_url.startswith("sqlite")
    command = [sys.executable, "-m", "bench.seed", "--scale", str(args.scale), "--seed",
               str(args.seed), "--folder", str(DATA)]
    if postgres:
        command += ["--database-url", args.database_url, "--schema", args.schema]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"seeding failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine(dialect: str, url: str) -> str:
    """Cores, CPU model, Python and database, as the other benchmarks print them."""
    if dialect == "sqlite":
        import sqlite3
        database = f"SQLite {sqlite3.sqlite_version}"
    else:
        database = f"PostgreSQL at {sa.engine.make_url(url).host}"
    return (f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
            f"{database}")


def print_report(report: dict, seeded: dict, args) -> bool:
    """The figures; True when the rows matched everywhere."""
    pipe, hand = report["pipe"], report["hand"]
    print(f"Benchmark 4 (issue 6): questions and digest at scale {args.scale:g} "
          f"(seed {args.seed}), {report['dialect']}, {args.repeat} rounds")
    took = "cached file reused" if seeded.get("cached") else f"{seeded['seconds']:.1f} s"
    print(f"Seeding: {took}" + (f" (seeding process peak RSS {seeded['peak_rss_mb']:.0f} MB)"
                                if "peak_rss_mb" in seeded else ""))
    facts = report["facts"]
    print(f"Plan: {facts['plan']} ({report['digest_actions']} actions); lead {facts['person']}; "
          f"asker {facts['me_name']}")
    print(f"Lexicon, first question after start (read + index): {report['lexicon_cold_ms']:.0f} ms;"
          f" per-turn lexicon check: p50 {pct(report['stamp'], .5):.2f} ms")
    print(f"{'question':<16} {'rows':>5} {'p50':>7} {'p95':>7} {'SQL p50':>8} {'SQL p95':>8} "
          f"{'ratio':>6}")
    ratios = []
    for q in QUESTIONS:
        p, h = pipe[q.key], hand[q.key]
        ratio = pct(p, .5) / pct(h, .5)
        ratios.append(ratio)
        print(f"{q.key:<16} {report['answered'][q.key]:>5} {pct(p, .5):>7.2f} {pct(p, .95):>7.2f} "
              f"{pct(h, .5):>8.2f} {pct(h, .95):>8.2f} {ratio:>6.2f}")
    every_p = [v for values in pipe.values() for v in values]
    every_h = [v for values in hand.values() for v in values]
    p95 = pct(every_p, .95)
    ratio = pct(every_p, .5) / pct(every_h, .5)
    print(f"{'all':<16} {'':>5} {pct(every_p, .5):>7.2f} {p95:>7.2f} {pct(every_h, .5):>8.2f} "
          f"{pct(every_h, .95):>8.2f} {ratio:>6.2f}")
    print(f"Ratio (pipeline p50 / hand SQL p50): overall {ratio:.2f}, per question median "
          f"{statistics.median(ratios):.2f}, worst {max(ratios):.2f}; p95 ratio "
          f"{p95 / pct(every_h, .95):.2f}")
    print("Steps of a turn, timed apart (p50 ms): " + ", ".join(
        f"{name} {pct(values, .5):.2f}" for name, values in report["phases"].items()))
    digest_p95 = pct(report["digest"], .95)
    print(f"Weekly digest ({report['digest_actions']}-action plan, view + card): p50 "
          f"{pct(report['digest'], .5):.1f} ms, p95 {digest_p95:.1f} ms")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Peak RSS of the benchmark process: {rss:.0f} MB")
    verdict = {"pipeline p95 <= 20 ms": p95 <= TARGETS["p95_ms"],
               "ratio <= 2 (overall p50)": ratio <= TARGETS["ratio"],
               "digest p95 <= 100 ms": digest_p95 <= TARGETS["digest_p95_ms"],
               "peak RSS < 300 MB": rss < TARGETS["rss_mb"]}
    print("Targets: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}"
                                  for name, ok in verdict.items()))
    if report["mismatches"]:
        for key, (got, want) in report["mismatches"].items():
            print(f"MISMATCH {key}: pipeline {str(got)[:200]} vs hand SQL {str(want)[:200]}")
    else:
        print(f"Rows: pipeline = hand-written SQL for all {len(QUESTIONS)} questions")
    print(f"Machine: {machine(report['dialect'], seeded['url'])}")
    return not report["mismatches"]


def main() -> None:
    """Seed (or reuse), measure, print."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (default: a cached SQLite file under bench/.data/)")
    parser.add_argument("--schema", default="bench_query", help="PostgreSQL schema to use")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = full size")
    parser.add_argument("--repeat", type=int, default=30, help="rounds of the 20 questions")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    args = parser.parse_args()
    seeded = seed(args)
    try:
        report = asyncio.run(bench(seeded["url"], seeded["schema"], args.repeat, args.explain))
    finally:
        if seeded["schema"] and not args.keep:
            asyncio.run(drop_schema(seeded["url"], seeded["schema"]))
    ok = print_report(report, seeded, args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
