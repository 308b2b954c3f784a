"""Loose matching of plan table headers ("Current RAG", "Strategic Lead (Board member )") to fields.

Pure functions: a header row in, a HeaderMap out. Shared by the tabular reader and the readers of
particular plans (manchester.py) that are tables underneath.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.importers.draft import LeadRole
from storage.rules import clean_text, parse_due

# Exact synonyms, best first: the rank decides when two columns claim one field.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "theme": ("theme", "priority", "area", "section", "priority area", "workstream", "strand"),
    "objective": (
        "objective", "recommendation", "requirement", "improvement objective",
        "ofsted recommendation", "source ofsted", "source",
    ),
    "objective_ref": ("objective ref", "objective no", "objective number", "recommendation ref",
                      "recommendation no", "rec no", "requirement ref", "requirement no"),
    "action_ref": ("action ref", "ref", "no", "action no", "action number", "number", "ref no",
                   "reference", "id", "#"),
    "action": ("action", "name", "action description", "key action", "task", "activity",
               "what we will do", "description"),
    "lead": ("lead", "operational lead", "strategic lead", "strategic lead board member", "owner",
             "responsible", "lead officer", "responsible officer", "accountable officer",
             "action owner", "who"),
    "start": ("start", "start date", "date started", "from"),
    "due": ("deadline", "due", "due date", "timescale", "end date", "target date", "by when",
            "completion date", "target", "when"),
    "rag": ("rag", "current rag", "status rag", "action rag", "rag status", "rag rating",
            "progress rag", "status"),
    "impact_rag": ("impact rag", "impact rating", "impact rag rating"),
    "rating_change": ("rating change", "direction of travel", "trend", "dot", "change"),
    "progress": ("progress", "progress update", "update", "progress to date", "commentary",
                 "comment", "latest update", "narrative"),
    "evidence": ("evidence", "evidence of progress", "evidence of impact"),
    "outcome": ("outcome", "what our children will say", "desired outcome", "intended outcome",
                "expected outcome", "impact"),
    "measures": ("how will we know", "measure", "success measure", "success criterion",
                 "success criteria", "kpi", "performance measure", "measure of success"),
    "cost": ("cost", "costs", "budget", "resource", "resource implication", "financial"),
    "last_update": ("last update", "last updated", "date updated", "updated", "update date"),
}

# Keyword rules for short headers nobody listed, in order: the first rule that fits wins.
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("impact_rag", ("impact rag", "impact rating")),
    ("rag", ("rag",)),
    ("rating_change", ("rating change", "direction of travel", "trend")),
    ("last_update", ("last update", "date updated", "date of update", "update date")),
    ("lead", ("lead", "owner", "responsib", "accountable")),
    ("start", ("start",)),
    ("due", ("deadline", "due", "timescale", "target date", "end date", "completion", "by when")),
    ("evidence", ("evidence",)),
    ("outcome", ("outcome", "children will say")),
    ("measures", ("measure", "how will we know", "success criteri", "kpi")),
    ("cost", ("cost",)),
    ("objective_ref", ("objective ref", "objective no", "recommendation ref", "recommendation no")),
    ("action_ref", ("action ref", "action no", "ref")),
    ("progress", ("progress", "update", "comment")),
    ("objective", ("objective", "recommendation", "requirement")),
    ("action", ("action", "task", "activit")),
    ("theme", ("theme", "priorit", "area", "section", "workstream")),
)

MULTI_FIELDS = frozenset({"lead"})
KEYWORD_RANK = 100


def normalise_header(text: object) -> str:
    """Header text compared loosely: lower case, no punctuation, plural words made singular."""
    raw = clean_text(text).lower()
    if raw.strip() == "#":
        return "#"
    words = re.sub(r"[^a-z0-9]+", " ", raw).split()
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                    for w in words)


_EXACT: dict[str, tuple[str, int]] = {}
for _field, _synonyms in _SYNONYMS.items():
    for _rank, _synonym in enumerate(_synonyms):
        _EXACT.setdefault(normalise_header(_synonym), (_field, _rank))


def field_of(header: object) -> tuple[str, int] | None:
    """The field a header names and how sure the match is (lower rank is surer), or None."""
    key = normalise_header(header)
    if not key:
        return None
    if key in _EXACT:
        return _EXACT[key]
    if len(key.split()) > 6:
        return None
    padded = f" {key} "
    for field, words in _KEYWORDS:
        if any(f" {word}" in padded for word in words):
            return field, KEYWORD_RANK
    return None


def lead_role(header: object) -> LeadRole:
    """The LeadDraft role a lead column holds: strategic, operational or plain lead."""
    key = normalise_header(header)
    if "strategic" in key:
        return "strategic"
    if "operational" in key:
        return "operational"
    return "lead"


@dataclass(frozen=True)
class Column:
    """One recognised column: its position, its field and its header as written."""

    index: int
    field: str
    header: str
    role: LeadRole = "lead"


@dataclass(frozen=True)
class HeaderMap:
    """What each column of a table holds."""

    columns: tuple[Column, ...]
    unknown: tuple[str, ...] = ()
    demoted: tuple[str, ...] = ()  # recognised but a better column already holds the field

    def first(self, field: str) -> Column | None:
        """The column holding a field, or None."""
        return next((column for column in self.columns if column.field == field), None)

    def all(self, field: str) -> list[Column]:
        """Every column holding a field (several lead columns are normal)."""
        return [column for column in self.columns if column.field == field]

    def has(self, field: str) -> bool:
        """True when some column holds the field."""
        return self.first(field) is not None


def match_header(cells: Sequence[object]) -> HeaderMap | None:
    """Read a row as a header row; None when it does not look like one."""
    texts = [clean_text(cell) for cell in cells]
    found: list[tuple[int, str, int]] = []
    unknown: list[str] = []
    for index, text in enumerate(texts):
        if not text:
            continue
        match = field_of(text)
        if match is None:
            unknown.append(text)
        else:
            found.append((index, match[0], match[1]))
    fields = {field for _, field, _ in found}
    nonblank = sum(1 for text in texts if text)
    if "action" not in fields or len(fields) < 2 or 2 * len(found) < nonblank:
        return None
    best: dict[str, tuple[int, int]] = {}
    for index, field, rank in found:
        if field not in MULTI_FIELDS and (field not in best or rank < best[field][0]):
            best[field] = (rank, index)
    columns: list[Column] = []
    demoted: list[str] = []
    for index, field, _ in found:
        if field in MULTI_FIELDS or best[field][1] == index:
            role: LeadRole = lead_role(texts[index]) if field == "lead" else "lead"
            columns.append(Column(index, field, texts[index], role))
        elif field == "objective" and normalise_header(texts[index]) == "source":
            columns.append(Column(index, "objective_source", texts[index]))
        else:
            demoted.append(texts[index])
    return HeaderMap(tuple(columns), tuple(unknown), tuple(demoted))


def find_header(rows: Iterable[Sequence[object]]) -> tuple[int, HeaderMap] | None:
    """The index and column map of the first header row, or None."""
    for index, row in enumerate(rows):
        header = match_header(row)
        if header is not None:
            return index, header
    return None


def lead_name(cell: object) -> str:
    """A lead cell as written, without a stray trailing comma ("Anna Berry," -> "Anna Berry")."""
    return clean_text(cell).strip(" ,;")


def is_page_furniture(text: str) -> bool:
    """A lone cell that is a page date ("Jan-15") or a RAG key ("Red- …  Amber- …")."""
    if len(text) <= 20 and parse_due(text) is not None:
        return True
    return len(re.findall(r"(?i)\b(red|amber|green|blue)\s*[-–:=]", text)) >= 2
