"""Generic reader for plans that are one table with a header row: CSV, XLSX and DOCX.

The files are only decoded here (bytes -> rows of cell text); the rows are read by tab_build
(header matching in columns.py, refs in tab_refs.py). The same bytes always give the same draft.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from storage.importers.columns import find_header
from storage.importers.draft import PlanDraft, PlanImportError
from storage.importers.tab_build import build_draft

if TYPE_CHECKING:
    from docx.document import Document

_DELIMITERS = (",", ";", "\t")


def cell_text(value: object) -> str:
    """One cell as text: real dates as "YYYY-MM-DD", whole numbers without ".0", None as ""."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_rows(
    rows: Sequence[Sequence[object]], *, source: str | None, name: str, layout: str
) -> PlanDraft:
    """Read a table (first a header row somewhere, then one row per action) into a PlanDraft."""
    text_rows = [[cell_text(cell) for cell in row] for row in rows]
    return build_draft(text_rows, source=source, name=name, layout=layout)


def is_utf16(data: bytes) -> bool:
    """True for text that starts with a UTF-16 byte order mark (Excel's "Unicode Text")."""
    return data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def decode_text(data: bytes | str) -> str:
    """A text file's bytes as text: UTF-16 with a BOM, UTF-8 (with or without BOM), else cp1252."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if is_utf16(data):
        return data.decode("utf-16", errors="replace").lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_csv(data: bytes | str, *, source: str | None, name: str) -> PlanDraft:
    """Read a CSV plan: comma, semicolon or tab separated; UTF-8, UTF-16 with a BOM or cp1252."""
    text = decode_text(data)
    if not text.strip():
        raise PlanImportError("the file is empty", source=source)
    best: tuple[int, list[list[str]]] | None = None
    for delimiter in _DELIMITERS:
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as error:
            raise PlanImportError(
                f"this is not a readable CSV file ({error})", source=source
            ) from error
        found = find_header(rows)
        score = len(found[1].columns) if found else -1
        if best is None or score > best[0]:
            best = (score, rows)
    assert best is not None
    return read_rows(best[1], source=source, name=name, layout="csv")


def read_xlsx(data: bytes, *, source: str | None, name: str) -> PlanDraft:
    """Read the first sheet of an Excel workbook that has a recognisable header row."""
    import openpyxl

    if not data:
        raise PlanImportError("the file is empty", source=source)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise PlanImportError(
            f"this is not an Excel .xlsx workbook, or it is damaged ({type(error).__name__})",
            source=source,
        ) from error
    try:
        sheets = [
            (sheet.title, [[cell_text(c) for c in r] for r in sheet.iter_rows(values_only=True)])
            for sheet in workbook.worksheets
        ]
    finally:
        workbook.close()
    for title, rows in sheets:
        if find_header(rows) is not None:
            draft = read_rows(rows, source=source, name=name, layout="xlsx")
            if len(sheets) > 1:
                draft.notes.insert(0, f"read sheet {title!r}")
            return draft
    filled = [(title, rows) for title, rows in sheets if any(c.strip() for r in rows for c in r)]
    if not filled:
        raise PlanImportError("the workbook is empty", source=source)
    title, rows = filled[0]
    where = f"{source} [{title}]" if source else f"sheet {title}"
    return read_rows(rows, source=where, name=name, layout="xlsx")


def _docx_tables(document: Document) -> list[list[list[str]]]:
    """Every table as rows of cell text, merged cells spread out: a cell continuing a vertical
    merge is blank (like Excel), a cell spanning columns fills its first column only."""
    from docx.text.paragraph import Paragraph

    tables: list[list[list[str]]] = []
    for table in document.tables:
        rows: list[list[str]] = []
        for tr in table._tbl.tr_lst:
            cells = [""] * tr.grid_before
            for tc in tr.tc_lst:
                if tc.vMerge == "continue":
                    cells.append("")
                else:
                    cells.append("\n".join(Paragraph(p, table).text for p in tc.p_lst))
                cells.extend([""] * (tc.grid_span - 1))
            rows.append(cells)
        tables.append(rows)
    return tables


def read_docx(data: bytes, *, source: str | None, name: str) -> PlanDraft:
    """Read a Word plan: the table with the header row and the later tables of the same width
    (a table split across pages), as one table; repeated header rows are skipped."""
    import docx

    if not data:
        raise PlanImportError("the file is empty", source=source)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as error:  # python-docx raises many kinds for a file that is not a document
        raise PlanImportError(
            f"this is not a Word .docx document, or it is damaged ({type(error).__name__})",
            source=source,
        ) from error
    tables = _docx_tables(document)
    if not any(tables):
        raise PlanImportError("the document has no tables to read a plan from", source=source)
    first = next((i for i, rows in enumerate(tables) if find_header(rows)), 0)
    width = max(len(row) for row in tables[first])
    rows = [row for rows in tables[:first] for row in rows] + tables[first]
    skipped = []
    for number, table in enumerate(tables[first + 1:], first + 2):
        if table and max(len(row) for row in table) == width:
            rows.extend(table)
        else:
            skipped.append(f"table {number} skipped: not {width} columns like the plan table")
    draft = read_rows(rows, source=source, name=name, layout="docx")
    draft.notes.extend(skipped)
    return draft
