"""The tracker councils keep: one row per action (CSV, or XLSX with colours, a key and history).

The columns are the ones plan trackers use, and planbot's own importer reads them back: exporting
then importing gives the same plan (tests/test_export_tracker.py checks it for the four plans).
"""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from storage.export.snapshot import ActionRow, PlanSnapshot
from storage.export.style import RAG_LOOK

LEAD_COLUMNS = {"lead": "Lead", "strategic": "Strategic lead", "operational": "Operational lead"}
RAG_WORDS = {rag: word for rag, (word, _, _) in RAG_LOOK.items() if rag != "none"}
CHANGE_WORDS = {"up": "Better", "down": "Worse", "same": "Same"}
RAG_KEY = (
    ("Red", "Not on track: significant risk to delivery; corrective action needed"),
    ("Amber", "Some risk or delay; corrective action in place"),
    ("Green", "On track"),
    ("Blue", "Achieved and evidenced: complete"),
)
HISTORY_COLUMNS = ("Ref", "Recorded", "By", "Source", "RAG", "Impact RAG", "Progress",
                   "Evidence", "Blockers", "Corrective action", "Next review")


def _roles(snap: PlanSnapshot) -> list[str]:
    """Lead columns in use: Lead always; strategic / operational only when the plan has them."""
    used = {lead.role for action in snap.actions for lead in action.leads}
    return ["lead"] + [role for role in ("strategic", "operational") if role in used]


def headers(snap: PlanSnapshot) -> list[str]:
    roles = _roles(snap)
    return (["Theme", "Ref", "Objective ref", "Objective", "Action"]
            + [LEAD_COLUMNS[role] for role in roles]
            + ["Start", "Due", "RAG", "Impact RAG", "Rating change", "Last update", "Progress",
               "Evidence", "Corrective action", "Next review", "Measures"])


def _row(snap: PlanSnapshot, action: ActionRow, objectives: dict[str, str]) -> list[str]:
    local = ZoneInfo(snap.timezone)
    last = action.last_update_at
    review = action.next_review
    leads = ["\n".join(lead.name for lead in action.leads if lead.role == role)
             for role in _roles(snap)]
    return ([action.theme or "", action.ref, action.objective_ref or "",
             objectives.get(action.objective_ref or "", ""), action.text]
            + leads
            + [action.start or "", action.due or "", RAG_WORDS.get(action.rag or "", ""),
               RAG_WORDS.get(action.impact_rag or "", ""),
               CHANGE_WORDS.get(action.rating_change or "", ""),
               last.astimezone(local).date().isoformat() if last else "",
               action.latest_with("progress") or "", action.latest_with("evidence") or "",
               action.corrective_action or "", review.isoformat() if review else "",
               action.measures or ""])


def rows(snap: PlanSnapshot) -> list[list[str]]:
    """The header row, then one row per action in plan order."""
    objectives = {objective.ref: objective.text for objective in snap.objectives}
    return [headers(snap)] + [_row(snap, action, objectives) for action in snap.actions]


def _safe(cell: str) -> str:
    """Spreadsheet formula injection: a cell starting =, +, - or @ is written as text."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") and not _number(cell) else cell


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def to_csv_bytes(snap: PlanSnapshot) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens names like 'Siobhán' correctly."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows(snap):
        writer.writerow([_safe(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx_bytes(snap: PlanSnapshot) -> bytes:
    """The tracker sheet (RAG cells in their colours, frozen header, filters, fitted widths), a
    RAG key sheet and a history sheet with every update up to the as-of date."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "Tracker"
    table = rows(snap)
    bold = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1F3864")
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in table:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font, cell.fill = bold, header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    rag_columns = [index + 1 for index, name in enumerate(table[0])
                   if name in ("RAG", "Impact RAG")]
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            cell.alignment = wrap
            cell.data_type = "s"  # never a formula, whatever the text starts with
        for column in rag_columns:
            _colour(line[column - 1], PatternFill, Font)
    widths = {"Theme": 22, "Ref": 8, "Objective ref": 10, "Objective": 40, "Action": 60,
              "Start": 12, "Due": 14, "RAG": 9, "Impact RAG": 9, "Rating change": 10,
              "Last update": 12, "Progress": 60, "Evidence": 40, "Corrective action": 40,
              "Next review": 12, "Measures": 40}
    for index, name in enumerate(table[0], start=1):
        longest = max((len(str(row[index - 1])) for row in table), default=8)
        sheet.column_dimensions[get_column_letter(index)].width = min(
            widths.get(name, 24), max(8, longest + 2))
    sheet.freeze_panes = "C2"
    sheet.auto_filter.ref = sheet.dimensions
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True

    key = book.create_sheet("RAG key")
    key.append(["RAG", "Meaning"])
    for word, meaning in RAG_KEY:
        key.append([word, meaning])
        _colour(key.cell(row=key.max_row, column=1), PatternFill, Font)
    for cell in key[1]:
        cell.font, cell.fill = bold, header_fill
    key.append([])
    key.append([f"{snap.name}: as of {snap.as_of.isoformat()}. Rating change compares each "
                "action's RAG with its previous rating."])
    key.column_dimensions["A"].width, key.column_dimensions["B"].width = 10, 70

    history = book.create_sheet("History")
    history.append(list(HISTORY_COLUMNS))
    local = ZoneInfo(snap.timezone)
    for action in snap.actions:
        for update in action.updates:
            history.append([
                action.ref, update.at.astimezone(local).strftime("%Y-%m-%d %H:%M"),
                update.by or "", update.source, RAG_WORDS.get(update.rag or "", ""),
                RAG_WORDS.get(update.impact_rag or "", ""), update.progress or "",
                update.evidence or "", update.blockers or "", update.corrective_action or "",
                update.next_review.isoformat() if update.next_review else ""])
            _colour(history.cell(row=history.max_row, column=5), PatternFill, Font)
    for cell in history[1]:
        cell.font, cell.fill = bold, header_fill
    for line in history.iter_rows(min_row=2):
        for cell in line:
            cell.data_type = "s"
            cell.alignment = wrap
    for index, width in enumerate((8, 16, 20, 8, 9, 9, 60, 40, 30, 40, 12), start=1):
        history.column_dimensions[get_column_letter(index)].width = width
    history.freeze_panes = "B2"
    history.auto_filter.ref = history.dimensions
    book.properties.title = f"{snap.name} tracker as of {snap.as_of.isoformat()}"
    book.properties.creator = "planbot"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _colour(cell, fill_type, font_type) -> None:
    """Fill a RAG cell in its colour; the word stays written (colour-blind readers, printing)."""
    rag = str(cell.value or "").lower()
    if rag in RAG_WORDS:
        _, fill, ink = RAG_LOOK[rag]
        cell.fill = fill_type("solid", fgColor=fill)
        cell.font = font_type(bold=True, color=ink)
