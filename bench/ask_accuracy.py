"""Score the question pipeline (parse + SQL) on the labelled set tests/fixtures/questions.json.

Run: .venv/bin/python -m bench.ask_accuracy [--questions FILE] [--verbose]
Each plan is imported into a fresh SQLite file, the set's seed updates are applied, and every
question is asked as `planbot ask` would; the answer's refs (or counts) are compared with the
hand-labelled expectation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from dialogs.ask.dialog import ask
from storage.db import make_engine, migrate, session_factory
from storage.importers.registry import read_plan_file
from storage.models import Action, Person
from storage.people import link_lead
from storage.plans import save_draft
from storage.updates import record_update
from tests.truthcheck import PLANS

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "questions.json"
TZ = "Europe/London"


def _at(today: date, days_ago: int) -> datetime:
    return datetime(today.year, today.month, today.day, 12, tzinfo=UTC) - timedelta(days=days_ago)


async def _load(folder: Path, plan_file: str, data: dict, today: date):
    engine = make_engine(f"sqlite+aiosqlite:///{folder / (plan_file + '.db')}")
    await migrate(engine)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await save_draft(session=session, draft=read_plan_file(PLANS / plan_file),
                         now=_at(today, data["import_days_ago"]))
        actions = {a.ref: a for a in (await session.execute(select(Action))).scalars()}
        for item in data["seed"].get(plan_file, []):
            await record_update(session=session, action=actions[item["ref"]], source="card",
                                at=_at(today, item["days_ago"]), rag=item.get("rag"),
                                progress=item.get("progress"), evidence=item.get("evidence"))
        askers = {}
        for name, where in data.get("askers", {}).items():
            if where == plan_file:
                person = Person(display_name=name, created_at=_at(today, 0))
                session.add(person)
                await session.flush()
                await link_lead(session=session, lead=name, person=person)
                askers[name] = person.id
    return engine, sessions, askers


def _norm_counts(counts: dict) -> dict:
    return {theme.casefold(): {rag: n for rag, n in rags.items() if n}
            for theme, rags in counts.items()}


def judge(case: dict, answer) -> bool:
    """True when the answer matches the case's expectation (or an accepted alternative)."""
    intent = answer.query.intent
    if case["intent"] in ("help", "unknown") or (
            case["intent"] == "show" and not case.get("expected_refs")):
        return intent in ("help", "unknown", "show") and not answer.rows
    if case["intent"] == "summary":
        if intent != "summary":
            return False
        if "(no theme)" in case["expected_counts"]:  # a plan without themes: we group it under
            totals: dict[str, int] = {}  # the plan's name, so compare the totals
            for rags in answer.counts.values():
                for rag, n in rags.items():
                    totals[rag] = totals.get(rag, 0) + n
            return _norm_counts({"all": totals}) == _norm_counts({"all": case["expected_totals"]})
        return _norm_counts(answer.counts) == _norm_counts(case["expected_counts"])
    if intent in ("help", "unknown", "summary"):
        return False
    got = set(answer.refs)
    accepted = [case["expected_refs"], *case.get("also_accept", [])]
    return any(got == set(refs) for refs in accepted)


async def score(verbose: bool = False, questions: Path = QUESTIONS) -> dict:
    """Ask every question; return accuracy overall, per plan and per intent, and timings."""
    data = json.loads(await asyncio.to_thread(questions.read_text, encoding="utf-8"))
    today = date.fromisoformat(data["today"])
    by_plan = defaultdict(list)
    for case in data["cases"]:
        by_plan[case["plan"]].append(case)
    results, timings, failures = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for plan_file, cases in sorted(by_plan.items()):
            engine, sessions, askers = await _load(Path(folder), plan_file, data, today)
            try:
                for case in cases:
                    async with sessions() as session:
                        started = time.perf_counter()
                        answer = await ask(session, case["question"], today=today, tz=TZ,
                                           asker_id=askers.get(case.get("asker")), limit=None)
                        timings.append((time.perf_counter() - started) * 1000)
                    ok = judge(case, answer)
                    results.append((plan_file, case["intent"], ok))
                    if not ok:
                        failures.append((case, answer))
            finally:
                await engine.dispose()
    if verbose:
        for case, answer in failures:
            print(f"#{case['id']} [{case['intent']}] {case['question']!r}\n"
                  f"    parsed: {answer.query.model_dump(exclude_defaults=True)}\n"
                  f"    got {sorted(answer.refs)}\n"
                  f"    want {sorted(case.get('expected_refs', []))}")
    return {"total": len(results), "correct": sum(ok for *_, ok in results),
            "plans": _rates(results, 0), "intents": _rates(results, 1),
            "p50_ms": statistics.median(timings),
            "p95_ms": statistics.quantiles(timings, n=20)[18]}


def _rates(results, index: int) -> dict[str, tuple[int, int]]:
    rates: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in results:
        rates[row[index]][0] += row[2]
        rates[row[index]][1] += 1
    return {key: (good, total) for key, (good, total) in sorted(rates.items())}


def main() -> None:
    """Print the accuracy table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="show every wrong answer")
    parser.add_argument("--questions", type=Path, default=QUESTIONS,
                        help="the labelled set (default: tests/fixtures/questions.json)")
    args = parser.parse_args()
    report = asyncio.run(score(verbose=args.verbose, questions=args.questions))
    print(f"Questions: {report['total']}  correct: {report['correct']}  accuracy: "
          f"{100 * report['correct'] / report['total']:.1f} %")
    for kind in ("plans", "intents"):
        for key, (good, total) in report[kind].items():
            print(f"  {key:<45} {good:>3}/{total:<3} {100 * good / total:5.1f} %")
    print(f"Time per question (parse + SQL, SQLite): p50 {report['p50_ms']:.1f} ms, "
          f"p95 {report['p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
