"""The generic tabular reader: CSV, XLSX and DOCX plans with a header row."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest

from storage.importers.columns import field_of, lead_role, match_header
from storage.importers.draft import ActionDraft, PlanDraft, PlanImportError
from storage.importers.tabular import read_csv, read_docx, read_rows, read_xlsx

FIXTURES = Path(__file__).parent / "fixtures"

PLAN_CSV = """\
Improvement plan 2024,,,,,,
Theme,Objective,Actions,Lead,Deadline,RAG,Notes
Quality,"1. Improve practice","1a. Audit cases",Ann Lee,Mar-24,Red,n1
,,"1b. Train managers",,,,
,,"1c Review thresholds",Bob Roe,Apr-24,,
Partnership,"2. Work together","2a. Meet partners",Cat Day,,Green,
,,"2b. Share data",,Jun-24,,
"""


def actions_of(draft: PlanDraft) -> dict[str, ActionDraft]:
    return {action.ref: action for _, action in draft.all_actions()}


def leads(action: ActionDraft) -> list[str]:
    return [lead.name for lead in action.leads]


def csv_draft(text: str, **kwargs: object) -> PlanDraft:
    return read_csv(text, source="plan.csv", name="Plan", **kwargs)  # type: ignore[arg-type]


# --- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (PLAN_CSV.encode("utf-8"), "comma"),
        (PLAN_CSV.replace(",", ";").encode("utf-8"), "semicolon"),
        (PLAN_CSV.replace(",", "\t").encode("utf-8"), "tab"),
        (PLAN_CSV.encode("utf-8-sig"), "utf-8 with BOM"),
        (PLAN_CSV.encode("cp1252"), "cp1252"),
        (PLAN_CSV, "str"),
        ("\ufeff" + PLAN_CSV, "str with BOM"),
    ],
)
def test_csv_variants_read_the_same(data: bytes | str, label: str) -> None:
    draft = read_csv(data, source="plan.csv", name="Plan")
    assert draft.layout == "csv", label
    assert [theme.name for theme in draft.themes] == ["Quality", "Partnership"]
    assert [(o.ref, o.text, o.theme) for o in draft.objectives] == [
        ("1", "Improve practice", "Quality"),
        ("2", "Work together", "Partnership"),
    ]
    assert list(actions_of(draft)) == ["1a", "1b", "1c", "2a", "2b"]
    assert draft.unknown_columns == ["Notes"]


def test_cp1252_characters_are_decoded() -> None:
    data = "Ref,Action,Lead\n1,Children\u2019s voice heard,Ann\n".encode("cp1252")
    draft = read_csv(data, source="plan.csv", name="Plan")
    assert draft.loose_actions[0][1].text == "Children\u2019s voice heard"


def test_fill_down_within_an_objective() -> None:
    got = actions_of(csv_draft(PLAN_CSV))
    assert (got["1b"].rag, got["1b"].rag_inherited) == ("Red", True)
    assert (leads(got["1b"]), got["1b"].leads_inherited) == (["Ann Lee"], True)
    assert (got["1c"].rag, got["1c"].rag_inherited) == ("Red", True)
    assert (leads(got["1c"]), got["1c"].leads_inherited) == (["Bob Roe"], False)
    assert (got["1a"].rag_inherited, got["1a"].leads_inherited) == (False, False)


def test_fill_down_never_crosses_into_another_objective() -> None:
    text = (
        "Objective,Action,Lead,RAG\n"
        "1. First,1a. One,Ann,Red\n"
        "2. Second,2a. Two,,\n"
        ",2b. Three,,\n"
    )
    got = actions_of(csv_draft(text))
    for ref in ("2a", "2b"):
        assert (got[ref].rag, got[ref].rag_inherited) == (None, False)
        assert (got[ref].leads, got[ref].leads_inherited) == ([], False)


def test_fill_down_never_crosses_objectives_derived_from_refs() -> None:
    text = "Ref,Action,Lead,RAG\n3a,One,Ann,Amber\n3b,Two,,\n4a,Three,,\n"
    got = actions_of(csv_draft(text))
    assert (got["3b"].rag, leads(got["3b"])) == ("Amber", ["Ann"])
    assert (got["4a"].rag, got["4a"].leads) == (None, [])


def test_due_dates_are_not_filled_down() -> None:
    got = actions_of(csv_draft(PLAN_CSV))
    assert [got[ref].due for ref in ("1a", "1b", "1c", "2a", "2b")] == [
        "Mar-24", None, "Apr-24", None, "Jun-24"]


def test_theme_fills_down_across_objectives() -> None:
    text = "Theme,Objective,Action\nQuality,1. A,1a. x\n,2. B,2a. y\n"
    draft = csv_draft(text)
    assert [o.theme for o in draft.objectives] == ["Quality", "Quality"]


def test_unknown_columns_are_listed() -> None:
    text = "Ref,Action,Lead,Budget code,Colour\n1,Do it,Ann,X1,blue\n"
    assert csv_draft(text).unknown_columns == ["Budget code", "Colour"]


def test_orphan_rows_are_noted_not_dropped_silently() -> None:
    text = PLAN_CSV + ",,,Dan Fox,,,\n,,,,,,stray note\n"
    draft = csv_draft(text)
    assert len(draft.all_actions()) == 5
    assert any(note.startswith("line 8:") and "no action text" in note and "Dan Fox" in note
               for note in draft.notes)
    assert any(note.startswith("line 9:") and "no action text" in note for note in draft.notes)


def test_repeated_header_rows_are_skipped() -> None:
    text = PLAN_CSV + "Theme,Objective,Actions,Lead,Deadline,RAG,Notes\n,,\"2c. More\",,,,\n"
    draft = csv_draft(text)
    assert list(actions_of(draft))[-1] == "2c"
    assert actions_of(draft)["2c"].rag == "Green"  # still objective 2: fill-down continues
    assert any(note.startswith("line 8:") and "header" in note for note in draft.notes)


def test_row_split_across_pages_joins_the_action_above() -> None:
    text = "Ref,Action,Lead\n1a,Transform management,Ann\n,culture and practice,\n1b,Next,\n"
    got = actions_of(csv_draft(text))
    assert list(got) == ["1a", "1b"]
    assert got["1a"].text == "Transform management culture and practice"


@pytest.mark.parametrize(
    ("cell", "ref", "written", "text"),
    [
        ("1a. Transform culture", "1a", "1a", "Transform culture"),
        ("1.dAppoint a chair", "1d", "1.d", "Appoint a chair"),
        ("24bRevise focus", "24b", "24b", "Revise focus"),
        ("10c Each team manager", "10c", "10c", "Each team manager"),
        ("CS18001.A Deliver the strategy", "CS18001.A", "CS18001.A", "Deliver the strategy"),
        ("2.4 Recruit staff", "2.4", "2.4", "Recruit staff"),
    ],
)
def test_ref_taken_from_the_action_text(cell: str, ref: str, written: str, text: str) -> None:
    draft = csv_draft(f'Action,Lead\n"{cell}",Ann\n')
    action = next(iter(actions_of(draft).values()))
    assert (action.ref, action.ref_as_written, action.text) == (ref, written, text)


@pytest.mark.parametrize(
    ("ref", "objective"),
    [("3a", "3"), ("CS18001.A", "CS18001"), ("2.4", "2"), ("1.10", "1"), ("1.d", "1")],
)
def test_objective_derived_from_ref_prefix(ref: str, objective: str) -> None:
    draft = csv_draft(f"Ref,Action\n{ref},Do it\n")
    assert [o.ref for o in draft.objectives] == [objective]
    assert draft.loose_actions == []


def test_refs_with_no_prefix_are_loose_actions_under_their_theme() -> None:
    draft = csv_draft("Area,No.,Action\nHousing,1,Build\n,2,Repair\n")
    assert draft.objectives == []
    assert [(theme, a.ref, a.text) for theme, a in draft.loose_actions] == [
        ("Housing", "1", "Build"), ("Housing", "2", "Repair")]


def test_several_actions_in_one_cell_are_split() -> None:
    text = 'Objective,Action,RAG\n"11. Plan","<p>11a. One</p> <p>11b. Two</p>",Amber\n'
    got = actions_of(csv_draft(text))
    assert [(a.ref, a.text, a.rag) for a in got.values()] == [
        ("11a", "One", "Amber"), ("11b", "Two", "Amber")]


def test_actions_without_refs_are_numbered() -> None:
    draft = csv_draft("Objective,Action\nBe safe,Audit\n,Train\n")
    assert [(o.ref, [a.ref for a in o.actions]) for o in draft.objectives] == [
        ("1", ["1.1", "1.2"])]
    assert all(a.ref_as_written == "" for _, a in draft.all_actions())


def test_rag_values_kept_as_written_and_non_rag_ignored() -> None:
    draft = csv_draft("Ref,Action,Status RAG\n1a,One,AMBER\n1b,Two,\u25a0\n")
    got = actions_of(draft)
    assert (got["1a"].rag, got["1b"].rag) == ("AMBER", None)
    assert any("is not a RAG value" in note for note in draft.notes)


def test_rereading_is_deterministic() -> None:
    assert csv_draft(PLAN_CSV).model_dump() == csv_draft(PLAN_CSV).model_dump()


# --- Loose header names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Theme", "theme"), ("Priority", "theme"), ("AREA", "theme"), ("Section", "theme"),
        ("Objective", "objective"), ("Recommendation", "objective"),
        ("Requirement", "objective"), ("Source/Ofsted", "objective"), ("Source", "objective"),
        ("Objective ref", "objective_ref"),
        ("Ref", "action_ref"), ("Ref.", "action_ref"), ("No", "action_ref"),
        ("Action Ref", "action_ref"),
        ("Actions", "action"), ("Action", "action"), ("Name", "action"),
        ("Lead", "lead"), ("Operational Lead", "lead"), ("Strategic Lead (Board member )", "lead"),
        ("Owner", "lead"), ("Responsible", "lead"), ("Leads", "lead"),
        ("Start", "start"), ("Start Date", "start"),
        ("Deadline", "due"), ("Due", "due"), ("Due Date", "due"), ("Timescale", "due"),
        ("End Date", "due"), ("Target date", "due"), ("Timescales", "due"),
        ("RAG", "rag"), ("Current RAG", "rag"), ("Status RAG", "rag"), ("Action RAG", "rag"),
        ("Impact RAG", "impact_rag"),
        ("Rating Change", "rating_change"), ("Direction of travel", "rating_change"),
        ("Trend", "rating_change"),
        ("Progress", "progress"), ("Evidence", "evidence"), ("Evidence of progress", "evidence"),
        ("Outcome", "outcome"), ("What our children will say", "outcome"),
        ("How will we know?", "measures"), ("Measures", "measures"),
        ("Success measures", "measures"), ("Cost", "cost"), ("Last update", "last_update"),
    ],
)
def test_loose_header_names(header: str, field: str) -> None:
    found = field_of(header)
    assert found is not None and found[0] == field


@pytest.mark.parametrize(
    ("header", "role"),
    [("Strategic Lead (Board member )", "strategic"), ("Operational Lead", "operational"),
     ("Lead", "lead"), ("Owner", "lead")],
)
def test_lead_roles(header: str, role: str) -> None:
    assert lead_role(header) == role


def test_source_beside_an_objective_column_is_the_objective_source() -> None:
    header = match_header(["Objective", "Source", "Action"])
    assert header is not None
    assert [c.field for c in header.columns] == ["objective", "objective_source", "action"]
    draft = csv_draft('Objective,Source,Action\n"1. Be safe",Ofsted 2019,1a. Audit\n')
    assert draft.objectives[0].source == "Ofsted 2019"


def test_data_rows_are_not_headers() -> None:
    assert match_header(["Quality", "1. Improve practice", "1a. Audit", "Ann", "Mar-24"]) is None


# --- Tracker layout (what the export writes) ------------------------------------------------------


def test_tracker_export_layout() -> None:
    draft = read_csv((FIXTURES / "tracker-export.csv").read_bytes(), source="t.csv", name="T")
    got = actions_of(draft)
    assert [(o.ref, o.text, o.theme) for o in draft.objectives] == [
        ("3", "Review caseloads", "Quality of practice"),
        ("CS18001", "Implement the school improvement strategy", "Learning"),
    ]
    assert list(got) == ["3a", "3b", "CS18001.A", "CS18001.B"]
    assert got["3a"].model_dump(include={"rag", "impact_rag", "rating_change", "start", "due",
                                         "progress", "evidence"}) == {
        "rag": "Amber", "impact_rag": "Red", "rating_change": "↑", "start": "2024-01-01",
        "due": "2024-06-30", "progress": "Agency staff recruited", "evidence": "Audit report"}
    # Every row names its objective, so a blank RAG is blank, not "same as above".
    assert (got["3b"].rag, got["3b"].rag_inherited) == (None, False)
    assert leads(got["3b"]) == ["Jo Bloggs"]
    assert draft.unknown_columns == []
    assert any("Last update" in note for note in draft.notes)


# --- XLSX -----------------------------------------------------------------------------------------


def xlsx_bytes(*sheets: tuple[str, list[list[object]]], merge: tuple[str, ...] = ()) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    for cells in merge:
        workbook.worksheets[-1].merge_cells(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


XLSX_ROWS: list[list[object]] = [
    ["Children's services improvement plan"],
    [],
    ["Priority", "Recommendation", "Ref", "Action", "Owner", "Target date", "Current RAG"],
    ["Quality", "1. Improve practice", "1a", "Audit cases", "Ann Lee",
     date(2024, 3, 31), "Red"],
    [None, None, "1b", "Train managers", None, None, None],
    [None, "2. Reduce caseloads", 2.0, "2a Recruit staff", "Bob Roe",
     date(2024, 6, 30), "Amber"],
    [None, None, "2b", "Review allocations", None, "Ongoing", None],
]


def test_xlsx_with_merged_cells_and_real_dates() -> None:
    import openpyxl

    data = xlsx_bytes(("Plan", XLSX_ROWS), merge=("A4:A7", "E4:E5", "G4:G5", "B4:B5"))
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
    assert isinstance(next(sheet.iter_rows(min_row=4, values_only=True))[5], datetime)
    draft = read_xlsx(data, source="plan.xlsx", name="Plan")
    got = actions_of(draft)
    assert draft.layout == "xlsx"
    assert [(o.ref, o.theme) for o in draft.objectives] == [("1", "Quality"), ("2", "Quality")]
    assert got["1a"].due == "2024-03-31"
    assert (got["1b"].rag, got["1b"].rag_inherited, leads(got["1b"])) == ("Red", True, ["Ann Lee"])
    assert got["1b"].due is None
    assert got["2b"].due == "Ongoing"
    assert (got["2b"].rag, leads(got["2b"])) == ("Amber", ["Bob Roe"])
    assert got["1a"].line == 4  # spreadsheet row


def test_xlsx_number_ref_cell() -> None:
    rows: list[list[object]] = [["Ref", "Action"], [1.0, "Do one"], [2, "Do two"]]
    draft = read_xlsx(xlsx_bytes(("S", rows)), source="p.xlsx", name="P")
    assert [a.ref for _, a in draft.loose_actions] == ["1", "2"]


def test_xlsx_uses_the_first_sheet_with_a_header() -> None:
    data = xlsx_bytes(("Cover", [["Our plan"], ["Version 2"]]), ("Actions", XLSX_ROWS))
    draft = read_xlsx(data, source="plan.xlsx", name="Plan")
    assert len(draft.all_actions()) == 4
    assert draft.notes[0] == "read sheet 'Actions'"


def test_xlsx_read_twice_is_identical() -> None:
    data = xlsx_bytes(("Plan", XLSX_ROWS))
    assert read_xlsx(data, source="p", name="P") == read_xlsx(data, source="p", name="P")


# --- DOCX -----------------------------------------------------------------------------------------


DOCX_HEADER = ["Theme", "Objective", "Action", "Lead", "Due Date", "RAG"]


def docx_bytes(tables: list[list[list[str]]], merge_first_column: bool = False) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Improvement plan")
    for rows in tables:
        table = document.add_table(rows=len(rows), cols=len(rows[0]))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
        if merge_first_column:
            table.cell(1, 0).merge(table.cell(len(rows) - 1, 0))
            table.cell(1, 0).text = rows[1][0]
        document.add_paragraph("Page 2")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_table_split_in_two_with_repeated_header() -> None:
    first = [DOCX_HEADER,
             ["Quality", "1. Improve practice", "1a. Audit cases", "Ann Lee", "Mar-24", "Red"],
             ["", "", "1b. Train managers", "", "", ""]]
    second = [DOCX_HEADER,
              ["", "", "and coach them", "", "", ""],
              ["", "2. Reduce caseloads", "2a. Recruit staff", "Bob Roe", "", "Green"]]
    draft = read_docx(docx_bytes([first, second]), source="plan.docx", name="Plan")
    got = actions_of(draft)
    assert draft.layout == "docx"
    assert list(got) == ["1a", "1b", "2a"]
    assert got["1b"].text == "Train managers and coach them"
    assert (got["1b"].rag, got["1b"].rag_inherited) == ("Red", True)
    assert got["1b"].due is None
    assert [o.theme for o in draft.objectives] == ["Quality", "Quality"]
    assert any("repeated header" in note for note in draft.notes)


def test_docx_vertically_merged_cells_fill_down() -> None:
    rows = [DOCX_HEADER,
            ["Quality", "1. Improve", "1a. One", "Ann", "", "Amber"],
            ["", "", "1b. Two", "", "", ""],
            ["", "", "1c. Three", "", "", ""]]
    draft = read_docx(docx_bytes([rows], merge_first_column=True), source="p.docx", name="P")
    assert [theme.name for theme in draft.themes] == ["Quality"]
    assert [(a.ref, a.rag) for _, a in draft.all_actions()] == [
        ("1a", "Amber"), ("1b", "Amber"), ("1c", "Amber")]


def test_docx_without_tables_is_an_error() -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Just words")
    out = io.BytesIO()
    document.save(out)
    with pytest.raises(PlanImportError, match="no tables"):
        read_docx(out.getvalue(), source="p.docx", name="P")


# --- Errors ---------------------------------------------------------------------------------------


def test_no_header_row_names_the_line() -> None:
    with pytest.raises(PlanImportError, match=r"plan\.csv, line 2: no header row") as caught:
        csv_draft("\nSome title,here\nand,more\n")
    assert caught.value.line == 2


def test_duplicate_action_ref_names_both_lines() -> None:
    text = "Objective,Ref,Action\n1. A,1a,One\n,1b,Two\n,1a,Three\n"
    with pytest.raises(PlanImportError, match=r"1a appears twice.*line 2 and line 4") as caught:
        csv_draft(text)
    assert caught.value.line == 4


def test_same_ref_in_different_objectives_is_fine() -> None:
    draft = csv_draft("Objective,Ref,Action\n1. A,a,One\n2. B,a,Two\n")
    assert [len(o.actions) for o in draft.objectives] == [1, 1]


@pytest.mark.parametrize("reader", [read_xlsx, read_docx])
@pytest.mark.parametrize("data", [b"this is not a spreadsheet at all", b"PK\x03\x04garbage"])
def test_garbage_bytes_are_a_clear_error(reader, data: bytes) -> None:
    with pytest.raises(PlanImportError, match="not an Excel|not a Word"):
        reader(data, source="plan.bin", name="P")


@pytest.mark.parametrize(
    "call",
    [
        lambda: read_csv(b"", source="e.csv", name="E"),
        lambda: read_csv(" \n\n", source="e.csv", name="E"),
        lambda: read_xlsx(b"", source="e.xlsx", name="E"),
        lambda: read_docx(b"", source="e.docx", name="E"),
        lambda: read_rows([[None, ""], []], source="e", name="E", layout="rows"),
        lambda: read_xlsx(xlsx_bytes(("Empty", [])), source="e.xlsx", name="E"),
    ],
)
def test_empty_file_is_an_error(call) -> None:
    with pytest.raises(PlanImportError, match="empty"):
        call()


def test_read_rows_takes_python_values() -> None:
    excel_date = datetime(2025, 1, 2, 0, 0)  # noqa: DTZ001 - Excel dates have no time zone
    rows: list[list[object]] = [["Ref", "Action", "Due"], ["1.1", "Do", excel_date]]
    draft = read_rows(rows, source=None, name="P", layout="rows")
    assert draft.objectives[0].actions[0].due == "2025-01-02"
    assert draft.layout == "rows"


def test_objectives_without_refs_are_numbered_clear_of_written_refs() -> None:
    draft = csv_draft("Objective,Action\nBe safe,Audit\n1. Real,1a. Check\n")
    assert [(o.ref, o.text) for o in draft.objectives] == [("2", "Be safe"), ("1", "Real")]
    assert [a.ref for _, a in draft.all_actions()] == ["2.1", "1a"]


def test_page_dates_and_rag_keys_are_not_themes() -> None:
    text = (
        "Theme,Objective,Action,RAG\n"
        "Quality,1. A,1a. One,Red\n"
        "Jan-15,,,\n"
        '"Red- at risk. Amber- some risk. Green- on target",,,\n'
        "Theme,Objective,Action,RAG\n"
        ",,1b. Two,\n"
    )
    draft = csv_draft(text)
    assert [theme.name for theme in draft.themes] == ["Quality"]
    assert actions_of(draft)["1b"].rag == "Red"
    assert sum("page header skipped" in note for note in draft.notes) == 2


def test_docx_tables_of_another_width_are_not_plan_rows() -> None:
    plan = [DOCX_HEADER, ["Quality", "1. Improve", "1a. One", "Ann", "", "Amber"]]
    glossary = [["Term", "Meaning"], ["MASH", "Multi agency safeguarding hub"]]
    draft = read_docx(docx_bytes([plan, glossary]), source="p.docx", name="P")
    assert [a.ref for _, a in draft.all_actions()] == ["1a"]
    assert [o.ref for o in draft.objectives] == ["1"]
    assert any(note.startswith("table 2 skipped") for note in draft.notes)


def test_a_lead_cell_with_one_post_holder_per_line_gives_one_lead_each(tmp_path):
    """Trackers list several post holders in one cell, a line each; text keeps its lines."""
    from storage.importers.registry import read_plan_file
    path = tmp_path / "plan.csv"
    path.write_text('Ref,Action,Lead,RAG\n1,"Review the front door:\n• staffing\n• QA",'
                    '"AD Education\nHead of Virtual School",red\n2,Second,,amber\n',
                    encoding="utf-8")
    first, second = [action for *_, action in read_plan_file(path).all_actions()]
    assert [lead.name for lead in first.leads] == ["AD Education", "Head of Virtual School"]
    assert first.text == "Review the front door:\n• staffing\n• QA"
    assert [lead.name for lead in second.leads] == ["AD Education", "Head of Virtual School"]
    assert second.leads_inherited
