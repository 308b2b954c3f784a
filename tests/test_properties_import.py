"""Property tests of the plan importers and `planbot import`: any bytes, however broken, either
import or fail with a PlanImportError naming the file; a failed import changes nothing stored."""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from bot.cli import run
from storage.db import session_factory, transaction
from storage.importers import manchester, rochdale2014, rochdale2018, tabular, tameside
from storage.importers.draft import PlanDraft, PlanImportError
from storage.importers.registry import read_plan_bytes
from storage.plans import save_draft
from tests.test_checkin_flow import NOW
from tests.test_properties_ask import budget, fingerprint, fragments
from tests.truthcheck import PLANS

REAL = {path.name: path.read_bytes() for path in sorted(PLANS.glob("*.txt"))}
SUFFIXES = [".xlsx", ".docx", ".csv", ".tsv", ".txt", ".md", ""]
LAYOUTS = {"manchester": manchester, "tameside": tameside, "rochdale2018": rochdale2018,
           "rochdale2014": rochdale2014}
HEADERS = ["Ref", "Action", "Lead", "Due", "RAG", "Progress", "Theme", "Objective", "Evidence",
           "Start", "Impact RAG", "Outcome", "How will we know", "Cost", "Status", "#", "Owner"]
FORMULAS = ["=1+1", "@SUM(A1:A2)", "+cmd|' /C calc'!A0", "-2+3", '=HYPERLINK("http://x","y")',
            "=cmd|' /C notepad'!'A1'", "\t=1+1", "'=1+1"]
CELL_WORDS = ["red", "AMBER", "G", "Blue", "1a", "2.4", "CS18001.A", "31/03/2026", "Mar-26",
              "Ongoing", "Karen Dolton", "SH / KD", "", " ", "\u00a0", "N/A", "TBC"]

cell = st.one_of(
    st.text(max_size=30), fragments, st.sampled_from(FORMULAS + CELL_WORDS),
    st.builds(lambda chunk, size: (chunk * (size // len(chunk) + 1))[:size],
              st.one_of(fragments, st.text(min_size=1, max_size=5)),
              st.integers(2_000, 40_000)),
    st.text(alphabet=st.sampled_from("\x00\x01\x1f\x7f\ufeff\u200b\r\n\"',;\t"), max_size=6))
real_header = st.lists(st.sampled_from(HEADERS[2:]), max_size=6, unique=True).map(
    lambda more: ["Ref", "Action", *more])
header = st.one_of(real_header, st.lists(st.one_of(st.sampled_from(HEADERS), cell), min_size=1,
                                         max_size=8))
ref = st.one_of(st.sampled_from(["1", "2", "1a", "2.4", "3.1.2", "A1", "CS18001.A", "10e"]),
                st.integers(1, 300).map(str), cell)
row = st.tuples(ref, st.lists(cell, max_size=8)).map(lambda parts: [parts[0], *parts[1]])
table = st.tuples(header, st.lists(row, max_size=12)).map(lambda parts: [parts[0], *parts[1]])


def _ok_or_clear_error(data: bytes, filename: str) -> PlanDraft | None:
    """The property every importer keeps: a draft with actions, or a PlanImportError that names
    the file; None for the error."""
    try:
        draft = read_plan_bytes(data, filename=filename)
    except PlanImportError as error:
        assert filename in str(error), f"the error does not name the file: {error}"
        assert str(error).strip() != filename
        event("refused")
        return None
    assert isinstance(draft, PlanDraft) and draft.all_actions()
    event("imported")
    return draft


@budget(120)
@given(data=st.one_of(st.binary(max_size=3000), st.just(b""), st.sampled_from(
    [b"PK\x03\x04", b"PK\x05\x06" + b"\x00" * 18, b"\xff\xfe", b"\xef\xbb\xbf", b"\x00" * 64,
     b"%PDF-1.7\n", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"])), suffix=st.sampled_from(SUFFIXES))
@example(data=b"\xff\xfe", suffix=".csv")
@example(data=b"PK\x05\x06" + b"\x00" * 18, suffix=".xlsx")  # an empty zip
def test_random_bytes_import_or_fail_clearly(data, suffix):
    _ok_or_clear_error(data, f"upload{suffix}")


@budget(120)
@given(plan=st.sampled_from(sorted(REAL)), cut=st.floats(0, 1), start=st.floats(0, 1),
       skip_start=st.booleans(), suffix=st.sampled_from([".txt", ".csv", ""]))
def test_truncated_real_plans_import_or_fail_clearly(plan, cut, start, skip_start, suffix):
    data = REAL[plan]
    end = int(len(data) * cut)
    begin = int(end * start) if skip_start else 0
    _ok_or_clear_error(data[begin:end], f"{plan}{suffix}")


@budget(60)
@given(plan=st.sampled_from(sorted(REAL)), layout=st.sampled_from(sorted(LAYOUTS)),
       cut=st.floats(0, 1), noise=st.lists(st.tuples(st.floats(0, 1), cell), max_size=4))
def test_each_text_layout_reads_damaged_text_or_names_the_line(plan, layout, cut, noise):
    """Each real layout's reader on its own (not only through detection): damaged text in,
    a draft or a PlanImportError with a line number or the file out."""
    text = REAL[plan].decode("utf-8-sig")
    text = text[:int(len(text) * cut)]
    for where, junk in noise:
        at = int(len(text) * where)
        text = text[:at] + junk + text[at:]
    try:
        LAYOUTS[layout].read(text, source=plan)
    except PlanImportError as error:
        assert plan in str(error)


def _csv_bytes(rows: list[list[str]], delimiter: str, encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    text = out.getvalue()
    if encoding == "utf-16":  # Excel's "Unicode Text": UTF-16 with a byte order mark
        return text.encode("utf-16")
    return text.encode(encoding, errors="replace")


@budget(120)
@given(rows=table, delimiter=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"]),
       suffix=st.sampled_from([".csv", ".tsv", ".txt"]))
@example(rows=[["Ref", "Action", "RAG"], ["1", "Do it", "red"]], delimiter="\t",
         encoding="utf-16", suffix=".txt")  # Excel's Unicode Text export
@example(rows=[["Ref", "Action"], ["1", "=1+1"], ["2", "@SUM(A1:A2)"]], delimiter=",",
         encoding="utf-8", suffix=".csv")
def test_csv_with_random_cells_imports_or_fails_clearly(rows, delimiter, encoding, suffix):
    _ok_or_clear_error(_csv_bytes(rows, delimiter, encoding), f"plan{suffix}")


_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xlsx_bytes(rows: list[list[str]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:  # an .xlsx cannot hold control characters: the writer refuses them
        sheet.append([_XML_BAD.sub("", value)[:32_000] for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _docx_bytes(rows: list[list[str]]) -> bytes:
    import docx

    document = docx.Document()
    width = max(len(row) for row in rows) or 1
    grid = document.add_table(rows=len(rows), cols=width)
    for cells, row in zip(grid.rows, rows, strict=True):
        for target, value in zip(cells.cells, row, strict=False):
            target.text = _XML_BAD.sub("", value)[:5_000]
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@budget(40)
@given(rows=table, kind=st.sampled_from(["xlsx", "docx"]), cut=st.one_of(st.none(),
                                                                           st.floats(0, 1)))
def test_xlsx_and_docx_whole_or_truncated_import_or_fail_clearly(rows, kind, cut):
    data = _xlsx_bytes(rows) if kind == "xlsx" else _docx_bytes(rows)
    if cut is not None:
        data = data[:int(len(data) * cut)]
    _ok_or_clear_error(data, f"plan.{kind}")


@budget(40)
@given(rows=table, cut=st.floats(0, 1))
def test_xlsx_read_directly_fails_clearly(rows, cut):
    """The tabular readers called directly (as the Teams upload path will): same property."""
    data = _xlsx_bytes(rows)
    for blob in (data, data[:int(len(data) * cut)]):
        try:
            tabular.read_xlsx(blob, source="direct.xlsx", name="Direct")
        except PlanImportError as error:
            assert "direct.xlsx" in str(error)


# --- into the database ---------------------------------------------------------------------------

@budget(40)
@given(rows=table, delimiter=st.sampled_from([",", "\t"]), nul_late=st.booleans())
@example(rows=[["Ref", "Action"], ["1", "Recruit"]], delimiter=",", nul_late=True)
async def test_what_imports_also_saves_and_a_failure_saves_nothing(engine, rows, delimiter,
                                                                    nul_late):
    """Whatever an importer accepts must store cleanly (PostgreSQL refuses NUL characters);
    whatever it refuses must leave the database as it was."""
    data = _csv_bytes(rows, delimiter, "utf-8")
    if nul_late:  # past the first 4 KiB, where the binary-file check looks
        data += b"\n" + b" " * 4100 + b"\n9,late\x00nul\n"
    before = await fingerprint(engine)
    draft = _ok_or_clear_error(data, "plan.csv")
    if draft is None:
        assert await fingerprint(engine) == before
        return
    async with transaction(session_factory(engine)) as session:
        await save_draft(session=session, draft=draft, now=NOW, slug="fuzzed")


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory) -> Path:
    """A SQLite database holding the Tameside plan, imported with the CLI."""
    path = tmp_path_factory.mktemp("cli") / "seed.db"
    code = run(["--database-url", f"sqlite+aiosqlite:///{path}", "import",
                str(PLANS / "tameside-improvement-plan-2023.txt")])
    assert code == 0
    return path


def _dump(path: Path) -> list:
    with sqlite3.connect(path) as connection:
        names = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(name, connection.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall())
                for name in names]


@budget(15)
@given(data=st.one_of(st.binary(max_size=500), st.sampled_from(sorted(REAL)).map(
    lambda name: REAL[name][:len(REAL[name]) // 3]), table.map(
    lambda rows: _csv_bytes(rows, ",", "utf-8"))), suffix=st.sampled_from(SUFFIXES + [".pdf"]))
@example(data=b"", suffix=".csv")
@example(data=b"\x00\x01garbage", suffix=".xlsx")
def test_cli_import_exits_2_with_a_message_and_keeps_the_database(seeded_db, tmp_path_factory,
                                                                   capsys, data, suffix):
    folder = tmp_path_factory.mktemp("cli-run")
    database = folder / "plan.db"
    shutil.copy(seeded_db, database)
    before = _dump(database)
    upload = folder / f"upload{suffix}"
    upload.write_bytes(data)
    capsys.readouterr()
    code = run(["--database-url", f"sqlite+aiosqlite:///{database}", "import", str(upload)])
    output = capsys.readouterr()
    assert "Traceback" not in output.out + output.err
    assert code in (0, 2)
    event(f"exit {code}")
    if code == 2:
        assert output.err.startswith("planbot: ") and str(upload) in output.err
        assert _dump(database) == before


def test_utf16_bom_text_is_not_called_binary():
    """Excel saves 'Unicode Text' as UTF-16 with a BOM: it is text, not a binary file."""
    data = "Ref\tAction\tRAG\r\n1\tRecruit social workers\tred\r\n".encode("utf-16")
    assert data.startswith(codecs.BOM_UTF16_LE)
    draft = read_plan_bytes(data, filename="export.txt")
    assert [action.text for _, action in draft.all_actions()] == ["Recruit social workers"]
