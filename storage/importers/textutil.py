"""Helpers shared by the plain-text plan readers (Tameside 2023, Rochdale 2018, Rochdale 2014).

Pure functions over the extracted text of a plan: 1-based lines, tab cells, HTML cell text,
bold markers, page furniture and the errors that name the line at fault.
"""

from __future__ import annotations

import re
from typing import NoReturn

from storage.importers.draft import PlanImportError
from storage.rules import clean_text

_BREAKS = re.compile(r"(?i)<\s*/?\s*(?:p|ul|ol|li|div|br)\b[^>]*>")
_BULLET = "\u2022"
_RULE = re.compile(r"^[\s\-|:]*-[\s\-|:]*$")
_BOLD = re.compile(r"\*\*|</?b>", re.IGNORECASE)
_PRE_DOTTED = re.compile(r"^(?P<ref>\d+\.\d+)\.?$")


def split_lines(text: str) -> list[str]:
    """The text's lines, split on newlines only, so index + 1 is the line number as printed."""
    return [line.rstrip("\r") for line in text.split("\n")]


def cells(line: str) -> list[str]:
    """The tab-separated cells of one table row, as written."""
    return line.split("\t")


def cell_lines(cell: str) -> list[str]:
    """The paragraphs and bullet points of one cell: HTML blocks and '•' bullets become lines."""
    text = _BREAKS.sub("\n", cell or "").replace(_BULLET, "\n" + _BULLET)
    return [line for line in (clean_text(part) for part in text.split("\n")) if line]


def cell_text(cell: str) -> str:
    """A cell as readable text: one line per paragraph or bullet, HTML and spare spaces removed."""
    return "\n".join(cell_lines(cell))


def unbold(text: str) -> str:
    """Text with markdown (**) and HTML (<b>) bold markers removed and whitespace collapsed."""
    return clean_text(_BOLD.sub(" ", text or ""))


def is_rule(line: str) -> bool:
    """True for a table separator line such as '-----\\t--\\t---'."""
    return bool(_RULE.match(line)) and "-" in line


def is_blank(line: str) -> bool:
    """True for a line with nothing but spaces, tabs or non-breaking spaces."""
    return not line.replace("\xa0", " ").strip()


def fail(message: str, line: int | None, source: str | None) -> NoReturn:
    """Raise PlanImportError naming the line at fault."""
    raise PlanImportError(message, line=line, source=source)


def claim(seen: dict[str, int], ref: str, line: int, source: str | None, what: str) -> None:
    """Record a ref as used on a line; a second use of the same ref is an import error."""
    if ref in seen:
        fail(f"duplicate {what} {ref} (first on line {seen[ref]})", line, source)
    seen[ref] = line


def join_continuation(text: str, more: str) -> str:
    """A cell that runs on after a page break, joined with a single space."""
    return f"{text.rstrip()} {more.strip()}".strip()


def normal_ref(written: str) -> str:
    """A 'major.minor' ref without a trailing dot: '1.1.' -> '1.1' (and '1.10' stays '1.10')."""
    match = _PRE_DOTTED.match(written.strip())
    return match["ref"] if match else written.strip()
