"""Domain rules shared by import, questions, digests and reports.

Pure functions, no I/O: RAG matching, due-date reading, ref comparison, lead cells, cell text.
"""

from __future__ import annotations

import calendar
import html
import re
from datetime import date
from enum import StrEnum


class Rag(StrEnum):
    """The RAG scheme: Blue means achieved and evidenced (complete)."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"
    BLUE = "blue"


RAG_SEVERITY = {Rag.RED: 3, Rag.AMBER: 2, Rag.GREEN: 1, Rag.BLUE: 0}

_RAG_WORDS = {
    "red": Rag.RED,
    "r": Rag.RED,
    "amber": Rag.AMBER,
    "a": Rag.AMBER,
    "yellow": Rag.AMBER,
    "green": Rag.GREEN,
    "g": Rag.GREEN,
    "blue": Rag.BLUE,
    "b": Rag.BLUE,
    "complete": Rag.BLUE,
    "completed": Rag.BLUE,
}


def parse_rag(value: object) -> Rag | None:
    """Read a RAG cell in any case ("RED", "red", "R", " Amber "); None when blank or unknown."""
    if value is None:
        return None
    if isinstance(value, Rag):
        return value
    if isinstance(value, str) and value in _RAG_WORDS:  # as stored ("red"): most calls
        return _RAG_WORDS[value]
    text = re.sub(r"[^a-z]", "", str(value).lower())
    return _RAG_WORDS.get(text)


def is_rag_text(value: object) -> bool:
    """True when the cell holds a recognisable RAG value (not a single letter)."""
    text = re.sub(r"[^a-z]", "", str(value or "").lower())
    return len(text) > 1 and text in _RAG_WORDS


def rating_change(previous: Rag | None, current: Rag | None) -> str | None:
    """Direction of travel between two ratings: "up" (better), "down" (worse), "same"."""
    if previous is None or current is None:
        return None
    before, after = RAG_SEVERITY[previous], RAG_SEVERITY[current]
    if after < before:
        return "up"
    if after > before:
        return "down"
    return "same"


_ARROWS = {"↑": "up", "↓": "down", "↔": "same", "→": "same", "⇔": "same"}


def parse_rating_change(value: object) -> str | None:
    """Read a rating-change cell: arrows (↑ ↓ ↔) or the words up / down / same."""
    text = str(value or "").strip().lower()
    for arrow, meaning in _ARROWS.items():
        if arrow in text:
            return meaning
    for word in ("up", "down", "same"):
        if text == word:
            return word
    return None


# --- Due dates --------------------------------------------------------------------------------

_MONTHS = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

_DAY_MONTH_YEAR = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?[\s\-/.]+({_MONTH_RE})\.?,?[\s\-/.]+(\d{{4}}|\d{{2}})\b",
    re.IGNORECASE,
)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?[\s\-/.,']*(\d{{4}}|\d{{2}})\b", re.IGNORECASE)
_NUMERIC = re.compile(r"\b(\d{1,2})[./](\d{1,2})[./](\d{4}|\d{2})\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def _year(text: str) -> int:
    number = int(text)
    return number + 2000 if number < 100 else number


def _last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_due(value: object) -> date | None:
    """The due date a cell means, or None when it has no date ("Ongoing", "Completed").

    A month ("Feb-15", "Mar 24", "March 2019") means the last day of that month; a day date is
    that day; text holding several dates takes the first one. Dates are read day-first (UK).
    """
    return parse_date(value, month_end=True)


def parse_start(value: object) -> date | None:
    """A start date: like parse_due, but a month means its first day."""
    return parse_date(value, month_end=False)


def parse_date(value: object, *, month_end: bool) -> date | None:
    """The first date written in a cell; a bare month is its last (or first) day."""
    if value is None:
        return None
    if isinstance(value, date):
        return value if not hasattr(value, "date") else value.date()  # datetime -> date
    text = clean_text(str(value))
    if not text:
        return None
    found: list[tuple[int, date]] = []
    for match in _ISO.finditer(text):
        day = _safe_date(int(match[1]), int(match[2]), int(match[3]))
        if day:
            found.append((match.start(), day))
    for match in _DAY_MONTH_YEAR.finditer(text):
        day = _safe_date(_year(match[3]), _MONTHS[match[2].lower()], int(match[1]))
        if day:
            found.append((match.start(), day))
    for match in _NUMERIC.finditer(text):
        day = _safe_date(_year(match[3]), int(match[2]), int(match[1]))
        if day:
            found.append((match.start(), day))
    taken = [(start, start + 12) for start, _ in found]
    for match in _MONTH_YEAR.finditer(text):
        if any(lo <= match.start() < hi for lo, hi in taken):
            continue
        year, month = _year(match[2]), _MONTHS[match[1].lower()]
        found.append((match.start(), _last_day(year, month) if month_end else date(year, month, 1)))
    if not found:
        return None
    return min(found, key=lambda item: item[0])[1]


_MONTH_ABBR = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
               "Dec")
_MONTH_NAME = ("", "January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")


def short_date(day: date) -> str:
    """A day as cards and reports write it: "31 Mar 2024" (English whatever the locale; no
    leading zero)."""
    return f"{day.day} {_MONTH_ABBR[day.month]} {day.year}"


def long_date(day: date) -> str:
    """A day with its month in full: "31 March 2024"."""
    return f"{day.day} {_MONTH_NAME[day.month]} {day.year}"


_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def day_label(day: date, *, year: bool = True) -> str:
    """A day with its weekday, as a heading says it: "Mon 23 Nov 2026" (or "Mon 23 Nov")."""
    return f"{_WEEKDAY_ABBR[day.weekday()]} {day.day} {_MONTH_ABBR[day.month]}" + (
        f" {day.year}" if year else "")


def month_label(day: date) -> str:
    """The month a day is in: "March 2015"."""
    return f"{_MONTH_NAME[day.month]} {day.year}"


def is_overdue(due: date | None, rag: Rag | None, today: date) -> bool:
    """Overdue means a due date before today on an action that is not Blue."""
    return due is not None and due < today and rag is not Rag.BLUE


# --- Refs ---------------------------------------------------------------------------------------


def ref_key(ref: object) -> str:
    """Compare refs without case, spaces or punctuation: "1.d" = "1d", "CS18001.A" = "cs18001a"."""
    return re.sub(r"[^0-9a-z]", "", str(ref or "").lower())


# --- Text and leads -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def without_control(text: str) -> str:
    """Text without control characters (tab and newlines kept): they mean nothing in a plan, a
    chat message or card data, and PostgreSQL refuses NUL in any text value."""
    return _CONTROL.sub("", text)


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def clean_text(value: object) -> str:
    """Cell text as a person reads it: HTML tags removed, entities decoded, whitespace collapsed."""
    if value is None:
        return ""
    text = str(value)
    text = re.sub(r"(?i)<\s*(br|/p|/div|/li)\s*/?>", " ", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text).replace("\xa0", " ")
    return _SPACE.sub(" ", text).strip()


def split_lead_names(cell: str) -> list[str]:
    """The people or roles in one lead cell ("S. Rawlinson/S Jackson" -> two names)."""
    parts = re.split(r"\s*(?:/|;|,|\s&\s)\s*", cell or "")
    return [part.strip(" .,") for part in parts if part and part.strip(" .,")]
