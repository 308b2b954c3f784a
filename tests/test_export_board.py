"""The board report (docx): its numbers equal what `planbot ask` answers for the same date, it is
built from history for a past date, it looks like a paper (A4, repeated table headers, shaded RAG
cells with the word, page numbers, a chart), and bad input leaves no file."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from sqlalchemy import select

from dialogs.ask.dialog import ask
from dialogs.checkin import start_round
from storage.export.board import board_report, write_board_report
from storage.export.chart import ThemeBars, rag_chart
from storage.export.figures import BoardData, Period, board_data, months_back
from storage.export.snapshot import ExportError, PlanSnapshot, snapshot
from storage.importers.registry import read_plan_file
from storage.models import Action, Checkin, Plan
from storage.outbox import save_reference
from storage.people import link_lead, upsert_person
from storage.plans import save_draft
from storage.updates import record_update

PLAN_FILE = (Path(__file__).resolve().parent.parent / "storage" / "demo"
             / "manchester-improvement-plan-2015-rag.txt")
LONDON = ZoneInfo("Europe/London")
TZ = "Europe/London"
TODAY = date(2026, 11, 25)  # the injected "today": the period is 26 Oct - 25 Nov 2026
GENERATED = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


# (ref, when, rag, progress, evidence): before the period, then within it.
HISTORY = [
    ("1b", london(2026, 10, 14, 10), "amber", "Review report received.", None),
    ("4a", london(2026, 10, 15, 11), "green", "Caseloads within range.", None),
    ("3a", london(2026, 11, 10, 10), "amber", "Standards being rolled out.", None),  # better
    ("1c", london(2026, 11, 12, 9), "blue", "Chair appointed.", "Signed terms of reference"),
    ("2d", london(2026, 11, 18, 16), "amber", "Recruitment slipped to January.", None),  # worse
    ("26a", london(2026, 11, 19, 14), "blue", "Framework launched.", "Framework document"),
    ("4a", london(2026, 11, 20, 12), "red", "Caseloads have risen again.", None),  # worse
    ("10h", london(2026, 11, 4, 12), "green", None, None),  # 21 days before: recent, as ask
    ("10i", london(2026, 11, 5, 12), "green", None, None),  # 20 days: not stale
]
BOUNDARY = "10h"  # last update exactly 21 days before the as-of day


@pytest.fixture
async def plan(sessions) -> Plan:
    """Manchester 2015 imported on 1 September 2026, a season of updates, and check-in rounds:
    one in last period, two in this one (Karen answers both, Lana neither)."""
    setup = datetime(2026, 9, 1, 9, tzinfo=UTC)
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, now=setup, draft=read_plan_file(PLAN_FILE))
        plan = report.plan
        people = {}
        for number, name in enumerate(("Karen Dolton", "Lana Shannon", "Sam Owner")):
            people[name] = await upsert_person(session=session, display_name=name,
                                               teams_user_id=f"29:user-{number}",
                                               aad_object_id=f"aad-{number}", email=None,
                                               now=setup)
            await save_reference(session=session, conversation_id=f"a:personal-{number}",
                                 kind="personal", service_url="https://smba.example/",
                                 reference_json="{}", now=setup, person_id=people[name].id)
            if name != "Sam Owner":
                assert await link_lead(session=session, lead=name, person=people[name]) > 0
        plan.owner_person_id = people["Sam Owner"].id
        actions = {a.ref: a for a in (await session.execute(
            select(Action).where(Action.plan_id == plan.id))).scalars()}
        for ref, at, rag, progress, evidence in sorted(HISTORY, key=lambda item: item[1]):
            await record_update(session=session, action=actions[ref], source="card", at=at,
                                rag=rag, progress=progress, evidence=evidence,
                                by_name="Karen Dolton")
        for period, started, karen_answers in (("2026-W42", london(2026, 10, 12, 9), None),
                                               ("2026-W46", london(2026, 11, 9, 9),
                                                london(2026, 11, 10, 9)),
                                               ("2026-W48", london(2026, 11, 23, 9),
                                                london(2026, 11, 24, 9))):
            round_report = await start_round(session=session, plan=plan, period=period,
                                             now=started, tz=TZ)
            assert sorted(round_report.queued) == ["Karen Dolton", "Lana Shannon"]
            if karen_answers:
                karen = (await session.execute(select(Checkin).where(
                    Checkin.round_id == round_report.round_id,
                    Checkin.person_id == people["Karen Dolton"].id))).scalar_one()
                karen.status, karen.answered_at = "answered", karen_answers
    return plan


async def report_for(sessions, plan: Plan, day: date, out: Path):
    async with sessions() as session:
        return await write_board_report(session, plan, as_of=day, out=out, tz=TZ,
                                        generated_at=GENERATED)


# --- Reading the document back ---------------------------------------------------------------


def blocks(doc) -> list[Paragraph | Table]:
    out = []
    for child in doc.element.body.iterchildren():
        if child.tag == qn("w:p"):
            out.append(Paragraph(child, doc))
        elif child.tag == qn("w:tbl"):
            out.append(Table(child, doc))
    return out


def sections(doc, level: int = 1) -> dict[str, list[Paragraph | Table]]:
    """Heading text -> the blocks under it, up to the next heading of that level or higher."""
    found: dict[str, list] = {}
    current = None
    for block in blocks(doc):
        if isinstance(block, Paragraph) and block.style.name.startswith("Heading "):
            heading_level = int(block.style.name.split()[-1])
            if heading_level <= level:
                current = found.setdefault(block.text, []) if heading_level == level else None
                continue
        if current is not None:
            current.append(block)
    return found


def rows_of(table: Table) -> list[list[str]]:
    """The table's data rows as text (no header, no theme sub-heading rows)."""
    rows = [[cell.text for cell in row.cells] for row in table.rows[1:]]
    return [row for row in rows if len(set(row)) > 1]


def tables_in(blocks_: list) -> list[Table]:
    return [block for block in blocks_ if isinstance(block, Table)]


def text_in(blocks_: list) -> str:
    return "\n".join(block.text for block in blocks_ if isinstance(block, Paragraph))


def section(doc, prefix: str, level: int = 1) -> list:
    matches = [blocks_ for title, blocks_ in sections(doc, level).items()
               if title.split(". ", 1)[-1].startswith(prefix)]
    assert len(matches) == 1, (prefix, list(sections(doc, level)))
    return matches[0]


def fill_of(cell) -> str | None:
    shading = cell._tc.tcPr.find(qn("w:shd")) if cell._tc.tcPr is not None else None
    return shading.get(qn("w:fill")) if shading is not None else None


async def asked(sessions, question: str):
    """What `planbot ask QUESTION --today 2026-11-25 --json` answers (the same call, limit=None)."""
    async with sessions() as session:
        return await ask(session, question, today=TODAY, tz=TZ, limit=None)


# --- Content ---------------------------------------------------------------------------------


async def test_numbers_equal_what_ask_answers_for_the_same_date(sessions, plan, tmp_path):
    out = tmp_path / "board.docx"
    board = await report_for(sessions, plan, TODAY, out)
    doc = Document(str(out))
    themes = [theme.name for theme in board.themes]
    assert themes == ["Vision, Leadership & Governance", "Quality of practice and capacity",
                      "Looked after children, permanence and leaving care", "Provision of help",
                      "Improving Performance Information and quality assurance"]

    # Counts by theme: the "As of" row of each theme's table = ask's summary counts.
    summary = (await asked(sessions, "summary")).counts
    assert set(summary) == set(themes)
    red, amber = set(), set()
    for theme in themes:
        blocks_ = section(doc, theme)
        counts_table, *rest = tables_in(blocks_)
        header = [cell.text for cell in counts_table.rows[0].cells]
        assert header == ["RAG counts", "Red", "Amber", "Green", "Blue", "Not rated", "Total",
                          "Red + Amber"]
        now_row = [cell.text for cell in counts_table.rows[2].cells]
        assert now_row[0] == "As of 25 Nov 2026"
        keys = ["red", "amber", "green", "blue", "none"]
        in_doc = {key: int(value) for key, value in zip(keys, now_row[1:6], strict=True)
                  if int(value)}
        assert in_doc == summary[theme], theme
        assert int(now_row[6]) == sum(summary[theme].values())
        # Every Red and Amber action of the theme, with its RAG written in a shaded cell.
        if rest:
            table = rest[0]
            for row, data in zip(table.rows[1:], rows_of(table), strict=True):
                (red if data[4] == "Red" else amber).add(data[0])
                assert fill_of(row.cells[4]) == {"Red": "C00000", "Amber": "FFC000"}[data[4]]
                assert "Corrective action: not given" in data[5]
        else:
            assert "No Red or Amber actions" in text_in(blocks_)
    assert red == set((await asked(sessions, "what's red?")).refs)
    assert amber == set((await asked(sessions, "what's amber?")).refs)
    assert (len(red), len(amber)) == (20, 54)  # imported 22 and 53, then HISTORY

    overdue = section(doc, "Overdue actions")
    assert {row[0] for row in rows_of(tables_in(overdue)[0])} == set(
        (await asked(sessions, "what's overdue?")).refs)
    assert len(board.overdue) > 0

    # No update for 3 weeks: ask counts from the start of the 21st day before; the report's
    # definition ("on or before as-of minus 21 days") also takes an update made on that day.
    stale = {row[0] for row in rows_of(tables_in(section(doc, "No update for 3 weeks"))[0])}
    ask_stale = set((await asked(sessions, "what hasn't been updated for 3 weeks?")).refs)
    assert BOUNDARY not in ask_stale and stale == ask_stale
    assert "10i" not in stale and "1c" not in stale  # updated 20 days ago; Blue

    worse = rows_of(tables_in(section(doc, "Actions that went worse (2)"))[0])
    assert [(row[0], row[3], row[4]) for row in worse] == [("2d", "Green", "Amber"),
                                                          ("4a", "Green", "Red")]
    assert {row[0] for row in worse} == set(
        (await asked(sessions, "what got worse since 26 October 2026?")).refs)
    new_blue = rows_of(tables_in(section(doc, "New Blue actions (2)"))[0])
    assert [(row[0], row[3], row[4], row[5]) for row in new_blue] == [
        ("1c", "Red", "12 Nov 2026", "Signed terms of reference"),
        ("26a", "Amber", "19 Nov 2026", "Framework document")]

    responders = section(doc, "Leads who did not respond (1)")
    assert "2026-W46, 2026-W48 (2)" in text_in(responders)  # not W42 (last period)
    assert rows_of(tables_in(responders)[0]) == [["Lana Shannon", "2", "2",
                                                  "2026-W46, 2026-W48", ""]]


async def test_title_page_key_definitions_and_summary(sessions, plan, tmp_path):
    out = tmp_path / "board.docx"
    await report_for(sessions, plan, TODAY, out)
    doc = Document(str(out))
    text = "\n".join(p.text for p in doc.paragraphs)
    first_tables = doc.tables[:2]
    facts = dict((row.cells[0].text, row.cells[1].text) for row in first_tables[0].rows)
    assert facts["Position as of"] == "25 November 2026"
    assert facts["Reporting period"] == "26 October 2026 to 25 November 2026"
    assert facts["Compared with"] == "26 September 2026 to 25 October 2026"
    assert facts["Plan owner"] == "Sam Owner" and facts["Actions in the plan"] == "93"
    assert facts["Prepared"].startswith("25 November 2026 at 16:30")
    assert "Manchester Children's Services Improvement Plan 2015" in text
    assert "Manchester City Council" in text
    key = rows_of(first_tables[1])
    assert [row[0] for row in key] == ["Red", "Amber", "Green", "Blue", "Not rated"]
    assert [fill_of(row.cells[0]) for row in first_tables[1].rows[1:]] == [
        "C00000", "FFC000", "00B050", "0070C0", "D9D9D9"]
    definitions = dict(rows_of(tables_in(section(doc, "How the figures are worked out"))[0]))
    assert {"This period", "Last period", "Direction of travel", "Went worse", "New Blue",
            "Overdue", "No update for 3 weeks or more",
            "Leads who did not respond"} <= set(definitions)
    glance = tables_in(section(doc, "At a glance", level=2))[0]
    now = dict(zip([c.text for c in glance.rows[0].cells], [c.text for c in glance.rows[2].cells],
                   strict=True))
    assert (now["Red"], now["Went worse"], now["New Blue"], now["Did not respond"]) == (
        "20", "2", "2", "1 of 2")
    by_theme = rows_of(tables_in(section(doc, "Counts by theme", level=2))[0])
    vision = next(row for row in by_theme if row[0] == "Vision, Leadership & Governance")
    # 1b red -> amber (last period), 1c red -> blue, 2d green -> amber: Red+Amber 9 -> 9 of 11.
    assert vision[1:] == ["8 → 7", "1 → 2", "2 → 1", "0 → 1", "0 → 0", "11", "82% → 82%",
                          "Same"]


async def test_layout_a4_repeated_headers_page_numbers_and_the_chart(sessions, plan, tmp_path):
    out = tmp_path / "board.docx"
    await report_for(sessions, plan, TODAY, out)
    doc = Document(str(out))
    page = doc.sections[0]
    assert (round(page.page_width.cm, 1), round(page.page_height.cm, 1)) == (21.0, 29.7)
    assert round(page.left_margin.cm, 1) == round(page.right_margin.cm, 1) == 2.0
    assert doc.styles["Normal"].font.name == "Arial"
    assert page.different_first_page_header_footer  # no footer on the title page
    footer = page.footer.paragraphs[0]._p.xml
    assert " PAGE " in footer and " NUMPAGES " in footer
    with_header = [t for t in doc.tables if t.rows[0]._tr.trPr is not None
                   and t.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None]
    assert len(with_header) == len(doc.tables) - 1  # all but the title page's facts
    pictures = doc.inline_shapes
    assert len(pictures) == 1
    blip = pictures[0]._inline.graphic.graphicData.pic.blipFill.blip
    image = doc.part.related_parts[blip.embed]
    assert image.content_type == "image/png"
    assert image.blob[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", image.blob[16:24])
    assert width > 1000 and height > 800  # 200 dpi
    # No empty section: every Heading 1 is followed by a table or a sentence.
    for title, blocks_ in sections(doc).items():
        assert tables_in(blocks_) or text_in(blocks_).strip(), title


async def test_a_past_date_is_reported_from_history(sessions, plan, tmp_path):
    """As of 31 October: 1c was still Red, 4a Green, nothing went worse or Blue in October,
    and the round of 12 October (W42) was answered by nobody."""
    out = tmp_path / "october.docx"
    board = await report_for(sessions, plan, date(2026, 10, 31), out)
    doc = Document(str(out))
    assert board.period.first_day == date(2026, 10, 1) and board.period.start == date(2026, 9, 30)
    vision = tables_in(section(doc, "Vision, Leadership & Governance"))
    reds = {row[0]: row[4] for row in rows_of(vision[1])}
    assert reds["1c"] == "Red" and reds["1b"] == "Amber" and "2d" not in reds
    for title in ("Actions that went worse (0)", "New Blue actions (0)"):
        blocks_ = section(doc, title)
        assert not tables_in(blocks_) and "None this period." in text_in(blocks_)
    quality = {row[0] for row in rows_of(tables_in(section(
        doc, "Quality of practice and capacity"))[1])}
    assert "4a" not in quality and "3a" in quality  # 4a was Green then, 3a still Red
    responders = section(doc, "Leads who did not respond (2)")
    assert "2026-W42 (1)" in text_in(responders)
    assert [row[0] for row in rows_of(tables_in(responders)[0])] == ["Karen Dolton",
                                                                      "Lana Shannon"]


async def test_an_answer_given_after_the_as_of_day_is_not_counted(sessions, plan, tmp_path):
    """Karen answered round W48 on 24 November: as of 23 November she had not."""
    async with sessions() as session:
        snap = await snapshot(session=session, plan=plan, as_of=date(2026, 11, 23), tz=TZ)
        data = await board_data(session, snap)
    assert data.rounds == ["2026-W46", "2026-W48"] and data.asked == 2
    assert [(p.name, p.missed, p.rounds) for p in data.non_responders] == [
        ("Lana Shannon", 2, ["2026-W46", "2026-W48"]), ("Karen Dolton", 1, ["2026-W48"])]


async def test_the_first_month_has_nothing_to_compare_with(sessions, tmp_path):
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, now=london(2026, 11, 10, 9),
                                  draft=read_plan_file(PLAN_FILE))
    out = tmp_path / "first.docx"
    board = await report_for(sessions, report.plan, TODAY, out)
    assert not board.has_last
    doc = Document(str(out))
    summary = text_in(section(doc, "Summary"))
    assert "No comparison with last period" in summary
    glance = tables_in(section(doc, "At a glance", level=2))[0]
    assert [c.text for c in glance.rows[1].cells][1:6] == ["–"] * 5
    assert {theme.direction for theme in board.themes} == {"Not comparable"}
    responders = section(doc, "Leads who did not respond (0)")
    assert "No check-in rounds were started this period." in text_in(responders)


# --- Bad input: a clear message, no file -----------------------------------------------------


async def test_an_empty_plan_is_refused_and_writes_nothing(sessions, tmp_path):
    async with sessions() as session, session.begin():
        empty = Plan(slug="empty", name="Empty plan", created_at=london(2026, 9, 1, 9))
        session.add(empty)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "empty.docx"
    with pytest.raises(ExportError, match="has no actions"):
        await report_for(sessions, empty, TODAY, out)
    snap = PlanSnapshot(plan_id=1, name="Empty plan", organisation=None, as_of=TODAY,
                        until=london(2026, 11, 25, 23, 59), timezone=TZ, themes=["A theme"],
                        objectives=[], actions=[])
    data = BoardData(period=Period.ending(TODAY, TZ), rounds=[], asked=0, non_responders=[])
    with pytest.raises(ExportError, match="no actions to report on"):
        board_report(snap, data, out=out)
    assert list(folder.iterdir()) == []


async def test_a_path_that_cannot_be_written_leaves_no_file(sessions, plan, tmp_path,
                                                            monkeypatch):
    missing = tmp_path / "no such folder" / "board.docx"
    with pytest.raises(ExportError, match="does not exist"):
        await report_for(sessions, plan, TODAY, missing)
    assert not missing.parent.exists()
    folder = tmp_path / "a folder"
    folder.mkdir()
    with pytest.raises(ExportError, match="it is a folder"):
        await report_for(sessions, plan, TODAY, folder)
    assert list(folder.iterdir()) == []

    # A write that fails half way (a full disk): no partial file, an old report left as it was.
    existing = folder / "board.docx"
    existing.write_bytes(b"last month's report")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("storage.export.files.os.replace", full_disk)  # the shared writer
    with pytest.raises(ExportError, match="cannot write .*No space left on device"):
        await report_for(sessions, plan, TODAY, existing)
    assert [p.name for p in folder.iterdir()] == ["board.docx"]
    assert existing.read_bytes() == b"last month's report"


async def test_a_binary_file_gets_the_whole_document(sessions, plan, tmp_path):
    out = tmp_path / "stream.docx"
    with out.open("wb") as handle:
        await report_for(sessions, plan, TODAY, handle)
    assert Document(str(out)).paragraphs  # a complete docx


# --- Pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("as_of", "start", "last_start"), [
    (date(2026, 3, 31), date(2026, 2, 28), date(2026, 1, 31)),
    (date(2028, 3, 31), date(2028, 2, 29), date(2028, 1, 31)),  # leap year
    (date(2026, 1, 15), date(2025, 12, 15), date(2025, 11, 15)),
    (date(2026, 11, 25), date(2026, 10, 25), date(2026, 9, 25)),
])
def test_periods(as_of, start, last_start):
    period = Period.ending(as_of, TZ)
    assert (period.start, period.last_start) == (start, last_start)
    assert months_back(as_of, 1) == start
    assert period.last_until < period.until


def test_chart_png_with_and_without_last_period():
    bars = [ThemeBars("A theme with a long name " * 3, {"red": 2, "amber": 1}, {"blue": 3}),
            ThemeBars("Another", {"none": 4}, {"green": 2, "none": 2})]
    png = rag_chart(bars, last_label="Last", now_label="Now")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    tall = struct.unpack(">II", png[16:24])[1]
    short = rag_chart([ThemeBars(b.theme, None, b.now) for b in bars], last_label="Last",
                      now_label="Now")
    assert struct.unpack(">II", short[16:24])[1] < tall
    with pytest.raises(ValueError):
        rag_chart([], last_label="Last", now_label="Now")
