"""Exports: the JSON document and its schema, the csv/xlsx tracker and its round trip through the
importer for the four real plans, the as-of state from history, and bad input."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.cli import run
from storage.export.json_format import plan_document, schema
from storage.export.render import render
from storage.export.snapshot import ExportError, snapshot
from storage.importers.registry import read_plan_file
from storage.models import Action, Plan
from storage.plans import save_draft
from storage.updates import record_update

PLANS = sorted((Path(__file__).resolve().parents[2] / "shared" / "plans").glob("*.txt"))
IMPORTED = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 25)


async def load(sessions, path: Path, now: datetime = IMPORTED) -> Plan:
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, draft=read_plan_file(path), now=now)
    return report.plan


def content(snap) -> tuple:
    """What a round trip must keep: themes, objectives, and each action's fields and leads."""
    return (snap.themes,
            [(o.ref, o.theme, o.text) for o in snap.objectives],
            [(a.ref, a.objective_ref, a.theme, a.text,
              tuple((lead.name, lead.role) for lead in a.leads), a.start, a.due, a.due_date,
              a.rag, a.impact_rag, a.measures, a.latest_with("progress"),
              a.latest_with("evidence")) for a in snap.actions])


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
async def test_json_export_matches_its_schema_and_holds_every_action_once(sessions, path):
    plan = await load(sessions, path)
    async with sessions() as session:
        snap = await snapshot(session=session, plan=plan, as_of=TODAY)
        result = await render(session=session, plan=plan, fmt="json", as_of=TODAY)
    document = json.loads(result.content)
    jsonschema.Draft202012Validator(schema()).validate(document)
    assert document == json.loads(json.dumps(plan_document(snap)))
    refs = [action["ref"] for action in document["actions"]]
    async with sessions() as session:
        stored = (await session.execute(select(Action.ref).where(
            Action.plan_id == plan.id))).scalars().all()
    assert sorted(refs) == sorted(stored) and len(set(refs)) == len(refs)
    assert document["plan"]["name"] == plan.name
    for action in document["actions"]:  # a month as written means its last day, and so on
        assert (action["due_date"] is None) == (snap.actions[refs.index(action["ref"])].due_date
                                                is None)


def test_the_schema_refuses_a_wrong_document():
    document = {"plan": {"name": "P", "organisation": None}, "themes": [], "objectives": [],
                "actions": [{"ref": "1", "objective_ref": None, "theme": None, "text": "t",
                             "leads": [], "due": None, "due_date": "31/03/2026", "rag": "RED",
                             "impact_rag": None, "rating_change": None, "measures": None,
                             "updates": []}]}
    errors = list(jsonschema.Draft202012Validator(schema()).iter_errors(document))
    assert {error.path[-1] for error in errors} == {"due_date", "rag"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
async def test_tracker_round_trip_gives_the_same_plan(sessions, engine, tmp_path, path, fmt):
    plan = await load(sessions, path)
    async with sessions() as session:
        before = await snapshot(session=session, plan=plan, as_of=TODAY)
        result = await render(session=session, plan=plan, fmt=fmt, as_of=TODAY)
    exported = tmp_path / f"tracker.{fmt}"
    exported.write_bytes(result.content)
    draft = read_plan_file(exported, name=plan.name + " (round trip)")
    async with sessions() as session, session.begin():
        again = (await save_draft(session=session, draft=draft, now=IMPORTED)).plan
    async with sessions() as session:
        after = await snapshot(session=session, plan=again, as_of=TODAY)
    assert content(after) == content(before)


async def test_as_of_reads_history_not_the_current_state(sessions, tmp_path):
    plan = await load(sessions, PLANS[0])
    async with sessions() as session, session.begin():
        action = (await session.execute(select(Action).where(
            Action.plan_id == plan.id, Action.ref == "1a"))).scalar_one()
        first = action.rag
        await record_update(session=session, action=action, source="card", rag="blue",
                            progress="Done", evidence="Review report", by_name="Karen Dolton",
                            at=datetime(2026, 10, 15, 10, tzinfo=UTC))
        await record_update(session=session, action=action, source="chat", rag="amber",
                            progress="Reopened", corrective_action="Weekly audit",
                            next_review=date(2026, 12, 1),
                            at=datetime(2026, 11, 20, 10, tzinfo=UTC))
    async with sessions() as session:
        october = await snapshot(session=session, plan=plan, as_of=date(2026, 10, 31))
        now = await snapshot(session=session, plan=plan, as_of=TODAY)
        september = await snapshot(session=session, plan=plan, as_of=date(2026, 9, 30))
    pick = {snap.as_of: next(a for a in snap.actions if a.ref == "1a")
            for snap in (september, october, now)}
    assert pick[date(2026, 9, 30)].rag == first and len(pick[date(2026, 9, 30)].updates) == 1
    assert pick[date(2026, 10, 31)].rag == "blue"
    assert pick[date(2026, 10, 31)].latest_with("evidence") == "Review report"
    assert pick[TODAY].rag == "amber" and pick[TODAY].rating_change == "down"
    assert pick[TODAY].corrective_action == "Weekly audit"
    assert pick[TODAY].next_review == date(2026, 12, 1)
    async with sessions() as session:
        book = load_workbook(io.BytesIO((await render(
            session=session, plan=plan, fmt="xlsx", as_of=date(2026, 10, 31))).content))
    tracker = book["Tracker"]
    header = [cell.value for cell in tracker[1]]
    row = next(r for r in tracker.iter_rows(min_row=2, values_only=True) if r[1] == "1a")
    assert row[header.index("RAG")] == "Blue" and row[header.index("Progress")] == "Done"
    assert row[header.index("Last update")] == "2026-10-15"
    history = [r for r in book["History"].iter_rows(min_row=2, values_only=True) if r[0] == "1a"]
    assert [r[4] for r in history] == [first.capitalize(), "Blue"]  # not November's Amber


async def test_xlsx_is_a_usable_tracker(sessions):
    plan = await load(sessions, PLANS[0])
    async with sessions() as session:
        book = load_workbook(io.BytesIO((await render(
            session=session, plan=plan, fmt="xlsx", as_of=TODAY)).content))
    assert book.sheetnames == ["Tracker", "RAG key", "History"]
    sheet = book["Tracker"]
    assert sheet.freeze_panes == "C2" and sheet.auto_filter.ref == sheet.dimensions
    header = [cell.value for cell in sheet[1]]
    assert header[:5] == ["Theme", "Ref", "Objective ref", "Objective", "Action"]
    column = header.index("RAG")
    fills = {}
    for row in sheet.iter_rows(min_row=2):
        if row[column].value:
            fills.setdefault(row[column].value, row[column].fill.fgColor.rgb[-6:])
    assert fills == {"Red": "C00000", "Amber": "FFC000", "Green": "00B050"} or (
        set(fills) <= {"Red", "Amber", "Green", "Blue"} and fills.get("Red") == "C00000")
    assert all(sheet.column_dimensions[letter].width <= 60 for letter in "ABCDEFGHIJ")
    assert [row[0].value for row in book["RAG key"].iter_rows(min_row=2, max_row=5)] == [
        "Red", "Amber", "Green", "Blue"]
    assert book["History"].max_row - 1 == sum(1 for row in sheet.iter_rows(min_row=2)
                                              if row[header.index("Last update")].value)


async def test_cells_that_look_like_formulas_stay_text(sessions, tmp_path):
    source = tmp_path / "plan.csv"
    source.write_text("Theme,Ref,Action,Lead,Due,RAG\nGovernance,1,=HYPERLINK(\"x\"),"
                      "@SUM(A1),+44 161,red\n", encoding="utf-8")
    plan = await load(sessions, source)
    async with sessions() as session:
        csv_bytes = (await render(session=session, plan=plan, fmt="csv", as_of=TODAY)).content
        book = load_workbook(io.BytesIO((await render(
            session=session, plan=plan, fmt="xlsx", as_of=TODAY)).content))
    text = csv_bytes.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text
    cells = [cell for row in book["Tracker"].iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert any(cell.value == '=HYPERLINK("x")' for cell in cells)


def cli(tmp_path, *args: str) -> int:
    return run(["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", *args])


def test_cli_exports_and_refuses_bad_input_without_leaving_a_file(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(tmp_path, "import", str(PLANS[0])) == 0
    assert cli(tmp_path, "export", "--format", "json", "--out", str(tmp_path / "p.json")) == 0
    assert json.loads((tmp_path / "p.json").read_text())["actions"]
    assert cli(tmp_path, "export", "--format", "csv") == 0  # default name from plan and date
    assert len(list(tmp_path.glob("*-plan-*.csv"))) == 1
    capsys.readouterr()
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    for args, message in (
            (("--plan", "Nowhere"), "Nowhere"),
            (("--as-of", tomorrow), "in the future"),
            (("--as-of", "2001-01-01"), "before the plan"),
            (("--as-of", "31/03/2026"), "YYYY-MM-DD"),
            (("--out", str(tmp_path / "missing" / "x.xlsx")), "does not exist"),
            (("--out", str(tmp_path)), "is a folder")):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        assert cli(tmp_path, "export", "--format", "xlsx", *args) == 2, args
        assert message in capsys.readouterr().err, args
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, args  # nothing left


async def test_an_empty_plan_is_refused(sessions):
    async with sessions() as session, session.begin():
        plan = Plan(slug="empty", name="Empty plan", created_at=IMPORTED)
        session.add(plan)
    async with sessions() as session:
        with pytest.raises(ExportError, match="no actions"):
            await render(session=session, plan=plan, fmt="json", as_of=TODAY)
