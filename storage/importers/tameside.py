"""Reader for the Tameside 2023 Children's Social Care Improvement Plan (extracted text).

Layout: four priority sections ("1: QUALITY OF PRACTICE", then "Lead: ..."), each holding a
nine-column table (Ref / Actions / How will we know? / Lead / Start Date / End Date / What our
children will say / Action RAG / Impact RAG) repeated after every page break. Rows with only the
first cell filled, and short bare lines such as "Care Leavers", are sub-headings that fill down
within the priority. Each priority is both a theme and the single objective of its actions.
"""

from __future__ import annotations

import re

from storage.importers.draft import (
    ActionDraft,
    LeadDraft,
    ObjectiveDraft,
    PlanDraft,
    ThemeDraft,
)
from storage.importers.textutil import (
    cell_lines,
    cell_text,
    cells,
    claim,
    fail,
    is_blank,
    is_rule,
    split_lines,
)
from storage.rules import clean_text

LAYOUT = "tameside-2023"
PLAN_NAME = "Tameside Children's Social Care Improvement Plan"
ORGANISATION = "Tameside Council"
YEAR = 2023

_HEADING = re.compile(r"^(?P<ref>\d+):\s+(?P<name>[A-Z][A-Z &,'/-]*[A-Z])\s*$")
_LEAD = re.compile(r"^Lead:\s*(?P<lead>\S.*)$")
_HEADER = re.compile(r"^Ref\.?\tActions\tHow will we know\?\tLead\t", re.IGNORECASE)
_HEADER_START = re.compile(r"^Ref\.?\t", re.IGNORECASE)
_ACTION_REF = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)$")
_LIST_ITEM = re.compile(r"^-\s*(?P<ref>\d+)\.\s*(?P<name>[^:]+?)\s*:(?:\*\*)?\s*(?P<statement>.+)$")
_ROLE_START = re.compile(
    r"\s+(?=(?:AD|DCS|SLT|DMT|Head of|Chair of|Assistant Director|Lead Member)\b)"
)
_COLUMNS = ("ref", "actions", "how will we know?", "lead", "start date", "end date")
_MIN_CELLS, _MAX_CELLS = 7, 9
_MAX_SUBHEADING_WORDS = 8


def detect(text: str) -> bool:
    """True when the text is the Tameside 2023 improvement plan layout."""
    lines = split_lines(text)
    return (
        "Tameside" in text
        and any(_HEADER.match(line) for line in lines)
        and any(_HEADING.match(line) for line in lines)
    )


def split_roles(cell: str) -> list[str]:
    """The roles in one Lead cell: <p> paragraphs, then run-together titles split at role words."""
    roles: list[str] = []
    for paragraph in cell_lines(cell):
        roles.extend(part.strip() for part in _ROLE_START.split(paragraph) if part.strip())
    return roles


def _priorities(lines: list[str]) -> dict[str, tuple[str, str]]:
    """The 'Our Priorities' list: ref -> (title-case name, statement)."""
    found: dict[str, tuple[str, str]] = {}
    inside = False
    for line in lines:
        stripped = clean_text(line)
        if stripped.lower() == "our priorities":
            inside = True
            continue
        if not inside or not stripped:
            continue
        match = _LIST_ITEM.match(stripped)
        if not match:
            break
        found[match["ref"]] = (match["name"].strip(" *"), match["statement"].strip(" *"))
    return found


def _section_end(lines: list[str]) -> int:
    """Index of the first appendix line (where the plan tables stop), or len(lines)."""
    for index, line in enumerate(lines):
        if line.strip().lower().startswith("appendix"):
            return index
    return len(lines)


def _check_header(row: list[str], number: int, source: str | None, notes: list[str]) -> None:
    """The header's first six columns must be the expected ones (6th may repeat 'Start Date')."""
    names = [clean_text(cell).lower() for cell in row]
    want = list(_COLUMNS)
    if names[5:6] == ["start date"]:
        notes.append(
            f"line {number}: header reads 'Start Date' twice; the sixth column is read as End Date"
        )
        want[5] = "start date"
    if [name.rstrip(".") for name in names[:6]] != want:
        fail(f"unexpected table header {names[:6]}", number, source)


def _action(row: list[str], ref: str, number: int, subheading: str | None) -> ActionDraft:
    """One action row (columns by position, since the header can be mislabelled)."""
    row = row + [""] * (_MAX_CELLS - len(row))
    return ActionDraft(
        ref=ref,
        ref_as_written=row[0].strip(),
        text=cell_text(row[1]),
        measures=cell_text(row[2]) or None,
        leads=[LeadDraft(name=name, role="lead") for name in split_roles(row[3])],
        start=clean_text(row[4]) or None,
        due=clean_text(row[5]) or None,
        outcome=cell_text(row[6]) or None,
        rag=clean_text(row[7]) or None,
        impact_rag=clean_text(row[8]) or None,
        subheading=subheading,
        line=number,
    )


def read(text: str, *, source: str | None = None) -> PlanDraft:
    """Read the Tameside 2023 plan into a PlanDraft; PlanImportError names the line at fault."""
    lines = split_lines(text)
    listed = _priorities(lines)
    end = _section_end(lines)
    notes: list[str] = []
    themes: list[ThemeDraft] = []
    objectives: list[ObjectiveDraft] = []
    seen_actions: dict[str, int] = {}
    seen_priorities: dict[str, int] = {}
    current: ObjectiveDraft | None = None
    subheading: str | None = None
    header_seen = False

    for index, raw in enumerate(lines[:end]):
        number = index + 1
        row = cells(raw)
        first = row[0].strip()
        heading = _HEADING.match(raw.strip())
        if heading:
            claim(seen_priorities, heading["ref"], number, source, "priority")
            name, statement = listed.get(heading["ref"], (heading["name"].title(), ""))
            if clean_text(name).lower() != heading["name"].lower():
                fail(f"priority {heading['ref']} is '{name}' in Our Priorities", number, source)
            if not statement:
                notes.append(f"line {number}: priority {heading['ref']} is not in Our Priorities")
            themes.append(ThemeDraft(name=name, ref=heading["ref"], statement=statement or None))
            current = ObjectiveDraft(
                ref=heading["ref"], text=statement or name, theme=name, line=number
            )
            objectives.append(current)
            subheading, header_seen = None, False
            continue
        if _ACTION_REF.match(first) and len(row) > 1 and current is None:
            fail(f"action {first} is outside any priority", number, source)
        if current is None or is_blank(raw) or is_rule(raw):
            continue
        lead = _LEAD.match(raw.strip())
        if lead:
            if current.actions:
                fail(f"a Lead line after the actions of priority {current.ref}", number, source)
            current.strategic_lead = themes[-1].lead = clean_text(lead["lead"])
            continue
        if _HEADER_START.match(raw):
            _check_header(row, number, source, notes)
            header_seen = True
            continue
        match = _ACTION_REF.match(first)
        if match:
            if not header_seen:
                fail(f"action {first} comes before the table header", number, source)
            if match["major"] != current.ref:
                fail(f"action {first} is under priority {current.ref}", number, source)
            if not _MIN_CELLS <= len(row) <= _MAX_CELLS:
                fail(f"action {first} has {len(row)} cells, expected 9", number, source)
            claim(seen_actions, first, number, source, "action")
            current.actions.append(_action(row, first, number, subheading))
            continue
        if first and not any(cell.strip() for cell in row[1:]):
            if len(row) == 1 and len(first.split()) > _MAX_SUBHEADING_WORDS:
                fail(f"unexpected text in priority {current.ref}: {first[:40]!r}", number, source)
            subheading = clean_text(first)
            continue
        fail(f"unexpected row in priority {current.ref}: {clean_text(raw)[:40]!r}", number, source)

    if not objectives:
        header = next((i + 1 for i, line in enumerate(lines) if _HEADER.match(line)), None)
        fail("no priority heading ('1: QUALITY OF PRACTICE') above the table", header, source)
    for objective in objectives:
        if not objective.actions:
            fail(f"priority {objective.ref} has no actions", objective.line, source)
    return PlanDraft(
        name=PLAN_NAME,
        organisation=ORGANISATION,
        year=YEAR,
        layout=LAYOUT,
        source_file=source,
        themes=themes,
        objectives=objectives,
        notes=notes,
    )
