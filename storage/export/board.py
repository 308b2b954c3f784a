"""The monthly board report (docx), built from a PlanSnapshot for any "as of" date.

    data = await board_data(session, snap)            # the check-ins of the period (DB)
    board_report(snap, data, out=Path("board.docx"))  # pure: figures + document, then one write

The figures (analyse) follow the definitions printed in the report itself (DEFINITIONS): the
period is the month up to the as-of day, "last period" the month before it, counts are RAG as of
the end of each period, from the stored history. The document is A4 portrait, Arial, with a
title page, a RAG key, a chart (storage/export/chart.py), a section per theme, tables whose header
row repeats on every page, RAG cells shaded in their colour with the word written in them, and
page numbers. Nothing is written until the whole document is built; a path that cannot be
written leaves no file behind (ExportError).
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.export.chart import ThemeBars, chart_height_in, rag_chart
from storage.export.files import write_atomic
from storage.export.snapshot import (
    ActionRow,
    ExportError,
    PlanSnapshot,
    end_of_day,
    snapshot,
)
from storage.export.style import RAG_LOOK
from storage.models import Checkin, CheckinRound, Person, Plan
from storage.rules import RAG_SEVERITY, is_overdue, parse_rag

STALE_DAYS = 21
NO_THEME = "Actions not under a theme"
RAG_KEYS = ("red", "amber", "green", "blue", "none")  # "none" = not rated
RAG_MEANING = {
    "red": "Remedial action is needed to achieve the objective. The timeline, cost or "
           "objectives are at risk.",
    "amber": "There is a problem and action is being taken to resolve it, or a potential "
             "problem is being monitored closely. The timeline, cost or objectives may be at risk.",
    "green": "On target to succeed. The timeline, cost and objectives are within plan.",
    "blue": "The improvement has been achieved and evidenced (complete). A Blue action is never "
            "counted as overdue.",
    "none": "No RAG rating has been recorded for the action yet.",
}
DEFINITIONS = (
    ("This period", "The calendar month up to the as-of date: from the day after the same date "
                    "in the previous month to the as-of date, inclusive."),
    ("Last period", "The month before this period, ending on the day this period starts from."),
    ("Counts", "Each action's RAG as it stood at the end of the last day of the period, taken "
               "from its recorded history (plan import, check-in cards and chat updates), in "
               "{tz} time."),
    ("Direction of travel", "Compares the share of a theme's actions rated Red or Amber at the "
                            "end of this period with the end of last period: a smaller share is "
                            "Better, a larger share is Worse, the same share is Same. It is "
                            "Not comparable when no action in the theme had a rating at the end "
                            "of last period."),
    ("Went worse", "An action whose rating moved down between the end of last period and the "
                   "as-of date (Blue to Green, Amber or Red; Green to Amber or Red; Amber to "
                   "Red)."),
    ("New Blue", "An action rated Blue at the as-of date that was not Blue at the end of last "
                 "period, shown with its latest evidence."),
    ("Overdue", "A due date before the as-of date on an action that is not Blue. Due dates are "
                "shown as written in the plan, with the date they mean (a month means its last "
                "day)."),
    ("No update for 3 weeks or more", "Not Blue, and no update in the 21 days before the "
                                      "as-of date (the same rule as asking planbot 'what "
                                      "hasn't been updated for 3 weeks?'), or never one."),
    ("Leads who did not respond", "People sent a check-in in a round started within this period "
                                  "who had not answered it by the as-of date."),
)
FONT = "Arial"
INK = RGBColor(0x1F, 0x38, 0x64)  # headings: dark blue
GREY = RGBColor(0x59, 0x59, 0x59)
HEADER_FILL = "1F3864"
THEME_FILL = "DCE6F1"
BORDER = "A6A6A6"
_BAD_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- Periods -------------------------------------------------------------------------------------


def months_back(day: date, months: int) -> date:
    """The same day `months` months earlier, or that month's last day when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Period:
    """This period is (start, as_of]; last period is (last_start, start]. Days are local."""

    as_of: date
    start: date  # exclusive: the same day a month earlier
    last_start: date  # exclusive: two months earlier
    tz: str

    @classmethod
    def ending(cls, as_of: date, tz: str) -> Period:
        return cls(as_of=as_of, start=months_back(as_of, 1), last_start=months_back(as_of, 2),
                   tz=tz)

    @property
    def first_day(self) -> date:
        return self.start + timedelta(days=1)

    @property
    def last_first_day(self) -> date:
        return self.last_start + timedelta(days=1)

    @property
    def until(self) -> datetime:
        """The end of the as-of day, UTC."""
        return end_of_day(self.as_of, self.tz)

    @property
    def last_until(self) -> datetime:
        """The end of last period (the end of the day this period starts from), UTC."""
        return end_of_day(self.start, self.tz)


# --- What the database adds to the snapshot ------------------------------------------------------


@dataclass
class NonResponder:
    name: str
    asked: int  # check-ins sent to them in rounds of this period
    missed: int  # of which not answered by the as-of date
    undelivered: int  # of which the card could not be delivered (no Teams chat with them)
    rounds: list[str] = field(default_factory=list)  # the rounds missed ("2026-W48")


@dataclass
class BoardData:
    period: Period
    rounds: list[str]  # check-in rounds started within the period, oldest first
    asked: int  # people sent a check-in in those rounds
    non_responders: list[NonResponder]
    owner: str | None = None  # the plan owner's name, when set


async def board_data(session: AsyncSession, snap: PlanSnapshot) -> BoardData:
    """The check-in rounds of the snapshot's period and who did not answer them."""
    period = Period.ending(snap.as_of, snap.timezone)
    rows = (await session.execute(
        select(CheckinRound.period, CheckinRound.started_at, Checkin.status, Checkin.answered_at,
               Person.id, Person.display_name)
        .join(Checkin, Checkin.round_id == CheckinRound.id)
        .join(Person, Person.id == Checkin.person_id)
        .where(CheckinRound.plan_id == snap.plan_id, CheckinRound.started_at > period.last_until,
               CheckinRound.started_at <= period.until)
        .order_by(CheckinRound.started_at, Person.display_name))).all()
    rounds = list((await session.execute(
        select(CheckinRound.period).where(
            CheckinRound.plan_id == snap.plan_id, CheckinRound.started_at > period.last_until,
            CheckinRound.started_at <= period.until).order_by(CheckinRound.started_at)))
        .scalars())
    people: dict[int, NonResponder] = {}
    for round_period, _, status, answered_at, person_id, name in rows:
        person = people.setdefault(person_id, NonResponder(name=name, asked=0, missed=0,
                                                           undelivered=0))
        person.asked += 1
        answered = status == "answered" and (answered_at is None or answered_at <= period.until)
        if not answered:
            person.missed += 1
            person.undelivered += status == "unreachable"
            person.rounds.append(round_period)
    owner = None
    plan = await session.get(Plan, snap.plan_id)
    if plan is not None and plan.owner_person_id is not None:
        person = await session.get(Person, plan.owner_person_id)
        owner = person.display_name if person else None
    missing = sorted((p for p in people.values() if p.missed),
                     key=lambda p: (-p.missed, p.name.lower()))
    return BoardData(period=period, rounds=rounds, asked=len(people), non_responders=missing,
                     owner=owner)


# --- The figures ---------------------------------------------------------------------------------


def rag_key(rag: str | None) -> str:
    """red / amber / green / blue, or "none" for no (or an unknown) rating."""
    parsed = parse_rag(rag)
    return parsed.value if parsed else "none"


def severity(rag: str | None) -> int | None:
    parsed = parse_rag(rag)
    return RAG_SEVERITY[parsed] if parsed else None


@dataclass
class ThemeFigures:
    name: str
    actions: list[ActionRow]
    now: Counter  # rag key -> count at the as-of date
    last: Counter  # rag key -> count at the end of last period
    direction: str  # Better / Worse / Same / Not comparable / No actions
    red_amber: list[ActionRow]  # Red first, then Amber, each in plan order

    @property
    def total(self) -> int:
        return len(self.actions)

    def share(self, counts: Counter) -> float:
        return (counts["red"] + counts["amber"]) / self.total if self.total else 0.0


@dataclass
class Change:
    """An action whose rating changed between the end of last period and the as-of date."""

    action: ActionRow
    theme: str
    was: str | None
    now: str | None
    since: datetime | None  # when it took its current rating


@dataclass
class Stale:
    action: ActionRow
    theme: str
    last: datetime | None
    days: int | None  # whole days since the last update; None when never updated


@dataclass
class Board:
    snap: PlanSnapshot
    data: BoardData
    themes: list[ThemeFigures]
    worse: list[Change]
    new_blue: list[Change]
    overdue: list[tuple[ActionRow, str]]
    stale: list[Stale]
    has_last: bool  # any history at the end of last period (False: imported since)
    overdue_last: int  # overdue at the end of last period
    stale_last: int  # no update for 3 weeks or more at the end of last period

    @property
    def period(self) -> Period:
        return self.data.period

    def totals(self, which: str) -> Counter:
        total: Counter = Counter()
        for theme in self.themes:
            total.update(getattr(theme, which))
        return total


def _direction(now: Counter, last: Counter, total: int) -> str:
    if not total:
        return "No actions"
    if sum(last[key] for key in RAG_KEYS if key != "none") == 0:
        return "Not comparable"
    before, after = last["red"] + last["amber"], now["red"] + now["amber"]
    return "Better" if after < before else "Worse" if after > before else "Same"


def _since(action: ActionRow) -> datetime | None:
    """When the action took its current rating (the first of the latest run of that rating)."""
    since = None
    for update in reversed(action.updates):
        if rag_key(update.rag) != rag_key(action.rag):
            break
        since = update.at
    return since


def analyse(snap: PlanSnapshot, data: BoardData) -> Board:
    """Every figure of the report, from the snapshot and the period's check-ins."""
    if not snap.actions:
        raise ExportError(f"the plan {snap.name!r} has no actions to report on")
    period = data.period
    themes, worse, new_blue, overdue, stale = [], [], [], [], []
    # As the ask pipeline counts it: stale when nothing was recorded from the start of the day
    # 21 days before the as-of day (an update exactly 3 weeks before still counts as recent).
    stale_from = end_of_day(snap.as_of - timedelta(days=STALE_DAYS + 1), snap.timezone)
    stale_from_last = end_of_day(period.start - timedelta(days=STALE_DAYS + 1), snap.timezone)
    overdue_last = stale_last = 0
    for name, actions in snap.by_theme().items():
        label = name or NO_THEME
        if name is None and not actions:
            continue
        now = Counter(rag_key(action.rag) for action in actions)
        last = Counter(rag_key(action.rag_on(period.last_until)) for action in actions)
        red_amber = ([a for a in actions if rag_key(a.rag) == "red"]
                     + [a for a in actions if rag_key(a.rag) == "amber"])
        themes.append(ThemeFigures(name=label, actions=actions, now=now, last=last,
                                   direction=_direction(now, last, len(actions)),
                                   red_amber=red_amber))
        for action in actions:
            was, current = action.rag_on(period.last_until), action.rag
            before, after = severity(was), severity(current)
            if before is not None and after is not None and after > before:
                worse.append(Change(action, label, was, current, _since(action)))
            if rag_key(current) == "blue" and rag_key(was) != "blue":
                new_blue.append(Change(action, label, was, current, _since(action)))
            if action.overdue(snap.as_of):
                overdue.append((action, label))
            if rag_key(current) != "blue" and (action.last_update_at is None
                                               or action.last_update_at <= stale_from):
                days = None
                if action.last_update_at is not None:
                    last_day = action.last_update_at.astimezone(ZoneInfo(snap.timezone)).date()
                    days = (snap.as_of - last_day).days
                stale.append(Stale(action, label, action.last_update_at, days))
            then = [update.at for update in action.updates if update.at <= period.last_until]
            overdue_last += is_overdue(action.due_date, parse_rag(was), period.start)
            stale_last += rag_key(was) != "blue" and (not then or then[-1] <= stale_from_last)
    has_last = any(update.at <= period.last_until for action in snap.actions
                   for update in action.updates)
    return Board(snap=snap, data=data, themes=themes, worse=worse, new_blue=new_blue,
                 overdue=overdue, stale=stale, has_last=has_last, overdue_last=overdue_last,
                 stale_last=stale_last)


# --- Text helpers --------------------------------------------------------------------------------


def clean(text: object) -> str:
    """Text as written, without the control characters a Word file cannot hold."""
    return _BAD_XML.sub("", str(text)) if text is not None else ""


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def short_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def due_text(action: ActionRow) -> str:
    """The due date as written, with the date it means when that differs from the text."""
    written = clean(action.due).strip()
    if action.due_date is None:
        return written or "Not given"
    meant = short_date(action.due_date)
    if not written or written == meant:
        return meant
    return f"{written}\n({meant})"


def leads_text(action: ActionRow) -> str:
    if not action.leads:
        return "No lead written"
    return "\n".join(clean(lead.name) + (f" ({lead.role})" if lead.role in (
        "strategic", "operational") else "") for lead in action.leads)


def rag_word(rag: str | None) -> str:
    return RAG_LOOK[rag_key(rag)][0]


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "–"


# --- Document building blocks --------------------------------------------------------------------


@dataclass
class Rich:
    """A cell's paragraphs: each a list of (text, bold, italic) runs."""

    paragraphs: list[list[tuple[str, bool, bool]]]


@dataclass
class RagCell:
    rag: str | None
    text: str | None = None  # defaults to the RAG word


@dataclass
class Filled:
    """Text in a shaded cell."""

    text: str
    fill: str
    ink: str = "000000"
    bold: bool = True


Cell = str | Rich | RagCell | Filled


def _shade(cell, fill: str) -> None:
    properties = cell._tc.get_or_add_tcPr()
    for old in properties.findall(qn("w:shd")):
        properties.remove(old)
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    properties.append(shading)


def _set_fonts(element, name: str = FONT) -> None:
    """Set a style's or run's font for every script, dropping theme fonts that would win."""
    properties = element.get_or_add_rPr()
    fonts = properties.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        properties.insert(0, fonts)
    for attribute in list(fonts.attrib):
        if attribute.endswith("Theme"):
            del fonts.attrib[attribute]
    for script in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(script), name)


def _field(paragraph, instruction: str, placeholder: str) -> None:
    """A Word field (PAGE, NUMPAGES) in a paragraph."""
    run = paragraph.add_run()
    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    run._r.append(begin)
    run = paragraph.add_run()
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = f" {instruction} "
    run._r.append(text)
    run = paragraph.add_run()
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    run._r.append(separate)
    paragraph.add_run(placeholder)
    run = paragraph.add_run()
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run._r.append(end)


def _bottom_rule(paragraph, colour: str = HEADER_FILL, size: int = 12) -> None:
    properties = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("val", "single"), ("sz", str(size)), ("space", "4"), ("color", colour)):
        bottom.set(qn(f"w:{key}"), value)
    borders.append(bottom)
    properties.insert_element_before(
        borders, "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap",
        "w:overflowPunct", "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi",
        "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing",
        "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment",
        "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr",
        "w:pPrChange")


class _Writer:
    """A python-docx Document with the report's page, styles and table helpers."""

    def __init__(self) -> None:
        self.doc = Document()
        section = self.doc.sections[0]
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = Cm(21.0), Cm(29.7)
        section.left_margin = section.right_margin = Cm(2.0)
        section.top_margin, section.bottom_margin = Cm(2.0), Cm(2.0)
        section.header_distance, section.footer_distance = Cm(1.0), Cm(1.0)
        self.width = 17.0  # cm between the margins
        styles = self.doc.styles
        normal = styles["Normal"]
        normal.font.size = Pt(10)
        _set_fonts(normal.element)
        language = OxmlElement("w:lang")
        language.set(qn("w:val"), "en-GB")
        normal.element.get_or_add_rPr().append(language)
        normal.paragraph_format.space_after = Pt(6)
        normal.paragraph_format.line_spacing = 1.1
        for name, size, before, after in (("Heading 1", 15, 18, 8), ("Heading 2", 12, 14, 6),
                                          ("Heading 3", 10.5, 10, 4), ("Title", 26, 0, 6)):
            style = styles[name]
            _set_fonts(style.element)
            style.font.size = Pt(size)
            style.font.bold = True
            style.font.italic = False
            style.font.color.rgb = INK
            style.paragraph_format.space_before = Pt(before)
            style.paragraph_format.space_after = Pt(after)
            style.paragraph_format.keep_with_next = True
        for name in ("Header", "Footer"):
            _set_fonts(styles[name].element)
            styles[name].font.size = Pt(8)
            styles[name].font.color.rgb = GREY

    # text

    def heading(self, text: str, level: int = 1, *, new_page: bool = False):
        paragraph = self.doc.add_heading(clean(text), level=level)
        paragraph.paragraph_format.page_break_before = new_page
        return paragraph

    def para(self, *runs: str | tuple[str, bool], size: float | None = None,
             colour: RGBColor | None = None, after: float | None = None,
             align=None, keep_with_next: bool = False):
        paragraph = self.doc.add_paragraph()
        for item in runs:
            text, bold = (item, False) if isinstance(item, str) else item
            run = paragraph.add_run(clean(text))
            if bold:
                run.bold = True
            if size:
                run.font.size = Pt(size)
            if colour is not None:
                run.font.color.rgb = colour
        if after is not None:
            paragraph.paragraph_format.space_after = Pt(after)
        if align is not None:
            paragraph.alignment = align
        paragraph.paragraph_format.keep_with_next = keep_with_next
        return paragraph

    def none(self, text: str = "None this period.") -> None:
        self.para((text, False), colour=GREY)

    # tables

    def table(self, headers: list[Cell] | None, widths: list[float],
              rows: list[list[Cell] | str], *, size: float = 8.5):
        """A table whose header row repeats on every page; a str row is a theme sub-heading
        spanning the table."""
        assert sum(widths) <= self.width + 0.01, widths
        table = self.doc.add_table(rows=1 if headers else 0, cols=len(widths))
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        self._table_look(table, widths)
        if headers:
            header = table.rows[0]
            properties = header._tr.get_or_add_trPr()
            for tag in ("w:cantSplit", "w:tblHeader"):
                element = OxmlElement(tag)
                element.set(qn("w:val"), "true")
                properties.append(element)
            for cell, value in zip(header.cells, headers, strict=True):
                if isinstance(value, str):
                    value = Filled(value, HEADER_FILL, "FFFFFF")
                self._fill(cell, value, size)
        for row in rows:
            added = table.add_row()
            split = OxmlElement("w:cantSplit")  # a row stays on one page when it fits on one
            split.set(qn("w:val"), "true")
            added._tr.get_or_add_trPr().append(split)
            cells = added.cells
            if isinstance(row, str):
                merged = cells[0].merge(cells[-1])
                self._fill(merged, Filled(row, THEME_FILL, "1F3864"), size + 0.5)
                merged.paragraphs[0].paragraph_format.keep_with_next = True
                continue
            for cell, value in zip(cells, row, strict=True):
                self._fill(cell, value, size)
        for row in table.rows:
            for cell, width in zip(row.cells, widths, strict=False):
                cell.width = Cm(width)
        self.doc.add_paragraph().paragraph_format.space_after = Pt(2)
        return table

    def _table_look(self, table, widths: list[float]) -> None:
        """Grey borders, cell margins and fixed column widths (elements in schema order)."""
        properties = table._tbl.tblPr  # tblW, jc, tblLayout (autofit off), tblLook
        borders = OxmlElement("w:tblBorders")
        for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
            element = OxmlElement(f"w:{side}")
            for key, value in (("val", "single"), ("sz", "4"), ("space", "0"),
                               ("color", BORDER)):
                element.set(qn(f"w:{key}"), value)
            borders.append(element)
        properties.insert_element_before(borders, "w:shd", "w:tblLayout", "w:tblCellMar",
                                         "w:tblLook", "w:tblCaption", "w:tblDescription")
        margins = OxmlElement("w:tblCellMar")
        for side, twips in (("top", 40), ("left", 85), ("bottom", 40), ("right", 85)):
            element = OxmlElement(f"w:{side}")
            element.set(qn("w:w"), str(twips))
            element.set(qn("w:type"), "dxa")
            margins.append(element)
        properties.insert_element_before(margins, "w:tblLook", "w:tblCaption",
                                         "w:tblDescription")
        for column, width in zip(table._tbl.tblGrid.findall(qn("w:gridCol")), widths,
                                 strict=True):
            column.set(qn("w:w"), str(int(Cm(width).twips)))

    def _fill(self, cell, value: Cell, size: float) -> None:
        paragraph = cell.paragraphs[0]
        paragraph.paragraph_format.space_after = Pt(0)
        paragraph.paragraph_format.line_spacing = 1.0
        if isinstance(value, RagCell):
            word, fill, ink = RAG_LOOK[rag_key(value.rag)]
            value = Filled(value.text if value.text is not None else word, fill, ink)
        if isinstance(value, Filled):
            _shade(cell, value.fill)
            run = paragraph.add_run(clean(value.text))
            if value.bold:
                run.bold = True
            run.font.size = Pt(size)
            run.font.color.rgb = RGBColor.from_string(value.ink)
            return
        paragraphs = value.paragraphs if isinstance(value, Rich) else [[(value, False, False)]]
        for index, runs in enumerate(paragraphs):
            if index:
                paragraph = cell.add_paragraph()
                paragraph.paragraph_format.space_before = Pt(3)
                paragraph.paragraph_format.space_after = Pt(0)
                paragraph.paragraph_format.line_spacing = 1.0
            for text, bold, italic in runs:
                run = paragraph.add_run(clean(text))
                if bold:
                    run.bold = True
                if italic:
                    run.italic = True
                run.font.size = Pt(size)

    def picture(self, png: bytes, width_cm: float, description: str) -> None:
        self.doc.add_picture(BytesIO(png), width=Cm(width_cm))
        paragraph = self.doc.paragraphs[-1]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.paragraph_format.keep_with_next = True
        for element in paragraph._p.iter(qn("wp:docPr")):
            element.set("descr", description)  # alternative text for screen readers

    def footer(self, left: str) -> None:
        section = self.doc.sections[0]
        section.different_first_page_header_footer = True  # the title page has no footer
        paragraph = section.footer.paragraphs[0]
        paragraph.text = ""
        paragraph.paragraph_format.tab_stops.add_tab_stop(Cm(self.width), WD_TAB_ALIGNMENT.RIGHT)
        paragraph.add_run(clean(left) + "\t")
        paragraph.add_run("Page ")
        _field(paragraph, "PAGE", "1")
        paragraph.add_run(" of ")
        _field(paragraph, "NUMPAGES", "1")


# --- The report ----------------------------------------------------------------------------------


def _progress(action: ActionRow, tz: str) -> Rich:
    """Latest progress (with its date and author), corrective action and next review."""
    paragraphs: list[list[tuple[str, bool, bool]]] = []
    latest = next((u for u in reversed(action.updates) if u.progress), None)
    if latest is not None:
        who = f", {clean(latest.by)}" if latest.by else ""
        paragraphs.append([(f"Progress ({short_date(local_day(latest.at, tz))}{who}): ", True,
                            False), (clean(latest.progress), False, False)])
    else:
        paragraphs.append([("Progress: ", True, False), ("none recorded", False, True)])
    corrective = action.corrective_action
    paragraphs.append([("Corrective action: ", True, False),
                       (clean(corrective), False, False) if corrective
                       else ("not given", False, True)])
    if action.next_review is not None:
        paragraphs.append([("Next review: ", True, False),
                           (short_date(action.next_review), False, False)])
    return Rich(paragraphs)


def _action_cell(action: ActionRow) -> Rich:
    return Rich([[(clean(action.text), False, False)]])


def _grouped(items: list, theme_of) -> list:
    """Rows with a theme sub-heading row before each theme's first row (plan order kept)."""
    rows, current = [], object()
    for item in items:
        theme = theme_of(item)
        if theme != current:
            rows.append(theme)
            current = theme
        rows.append(item)
    return rows


def _counts_header(first: str) -> list[Cell]:
    return [first, *[RagCell(key) for key in RAG_KEYS], "Total", "Red + Amber"]


def build(board: Board, *, generated_at: datetime) -> bytes:
    """The board report as .docx bytes."""
    snap, period, data = board.snap, board.period, board.data
    tz = snap.timezone
    w = _Writer()
    doc = w.doc
    generated_local = generated_at.astimezone(ZoneInfo(tz))
    last_label = f"End of last period ({short_date(period.start)})"
    now_label = f"As of {short_date(period.as_of)}"
    title = f"{snap.name} – board report as of {long_date(period.as_of)}"
    doc.core_properties.title = title
    doc.core_properties.subject = "Improvement plan board report"
    doc.core_properties.author = "planbot"
    doc.core_properties.created = generated_at.astimezone(UTC).replace(tzinfo=None)
    w.footer(f"{snap.name} – board report as of {long_date(period.as_of)}")

    # Title page: plan, date, period, RAG key.
    w.para((snap.organisation or "", False), size=13, colour=GREY, after=70)
    w.para(("Improvement Board report", True), size=28, colour=INK, after=4)
    _bottom_rule(w.para((snap.name, False), size=16, colour=INK, after=24))
    facts = [("Position as of", long_date(period.as_of)),
             ("Reporting period", f"{long_date(period.first_day)} to "
                                  f"{long_date(period.as_of)}"),
             ("Compared with", f"{long_date(period.last_first_day)} to "
                               f"{long_date(period.start)}")]
    if data.owner:
        facts.append(("Plan owner", data.owner))
    facts.append(("Prepared", f"{long_date(generated_local.date())} at "
                              f"{generated_local:%H:%M}, by planbot from the plan's recorded "
                              "history"))
    facts.append(("Actions in the plan", str(len(snap.actions))))
    w.table(None, [4.5, 12.5],
            [[Filled(label, "F2F2F2", "1F3864"), value] for label, value in facts], size=10)
    w.para("")
    w.heading("RAG key", 2)
    w.table(["Rating", "Meaning"], [2.6, 14.4],
            [[RagCell(key), RAG_MEANING[key]] for key in RAG_KEYS], size=9)

    # 1. Summary.
    w.heading("1. Summary", 1, new_page=True)
    now_total, last_total = board.totals("now"), board.totals("last")
    total = len(snap.actions)
    w.para(f"This report gives the position of the {total} actions of {snap.name} as recorded "
           f"at the end of {long_date(period.as_of)}, and compares it with the end of last "
           f"period ({long_date(period.start)}). Section 2 explains how each figure is worked "
           "out.")
    if not board.has_last:
        w.para(("No comparison with last period: ", True),
               f"the plan has no recorded history before the end of {long_date(period.start)} "
               "(it was imported since), so only this period's figures are shown.")

    def then(value: int) -> str:
        return str(value) if board.has_last else "–"

    responded = (f"{len(data.non_responders)} of {data.asked}" if data.rounds else "No rounds")
    w.heading("At a glance", 2)
    w.table(["Actions", *[RagCell(key) for key in RAG_KEYS], "Overdue", "Went worse",
             "New Blue", "No update 3+ weeks", "Did not respond"],
            [2.7, *[1.25] * 5, *[1.61] * 5],
            [[Filled(last_label, "F2F2F2", "1F3864"),
              *[then(last_total[key]) for key in RAG_KEYS], then(board.overdue_last), "–",
              "–", then(board.stale_last), "–"],
             [Filled(now_label, "F2F2F2", "1F3864"), *[str(now_total[key]) for key in RAG_KEYS],
              str(len(board.overdue)), str(len(board.worse)), str(len(board.new_blue)),
              str(len(board.stale)), responded]], size=8.5)
    w.heading("RAG by theme: last period and this period", 2)
    bars = [ThemeBars(theme.name, dict(theme.last) if board.has_last else None,
                      dict(theme.now)) for theme in board.themes]
    png = rag_chart(bars, last_label=f"Last period (to {short_date(period.start)})",
                    now_label=f"This period (to {short_date(period.as_of)})")
    width = 16.0  # cm; narrower when the chart would be taller than 20 cm (many themes)
    width = min(width, 20.0 * 17.0 / (chart_height_in(bars) * 2.54))
    w.picture(png, width, "Bar chart of the number of Red, Amber, Green, Blue and not rated "
              "actions in each theme at the end of last period and at the as-of date.")
    w.para(("Figure 1. ", True), "RAG counts by theme at the end of last period and at the "
           "as-of date. Each bar segment shows its count and, where it fits, its initial "
           "(R, A, G, B, N).", size=8.5, colour=GREY)

    def pair(before: int, after: int) -> str:
        return f"{before} → {after}" if board.has_last else str(after)

    def share(counts: Counter, whole: int) -> str:
        return percent(counts["red"] + counts["amber"], whole)

    rows: list[list[Cell]] = []
    for theme in board.themes:
        rows.append([theme.name, *[pair(theme.last[k], theme.now[k]) for k in RAG_KEYS],
                     str(theme.total),
                     (f"{share(theme.last, theme.total)} → " if board.has_last else "")
                     + share(theme.now, theme.total),
                     Filled(theme.direction, _DIRECTION_FILL.get(theme.direction, "FFFFFF"))])
    overall = _direction(now_total, last_total, total)
    rows.append([Filled("All themes", "F2F2F2", "000000"),
                 *[Filled(pair(last_total[k], now_total[k]), "F2F2F2") for k in RAG_KEYS],
                 Filled(str(total), "F2F2F2"),
                 Filled((f"{share(last_total, total)} → " if board.has_last else "")
                        + share(now_total, total), "F2F2F2"),
                 Filled(overall, _DIRECTION_FILL.get(overall, "FFFFFF"))])
    w.heading("Counts by theme (end of last period → as of date)" if board.has_last
              else "Counts by theme (as of date)", 2)
    w.table(["Theme", *[RagCell(k, RAG_LOOK[k][0] if k != "none" else "None")
                        for k in RAG_KEYS], "Total", "Red + Amber", "Direction"],
            [4.4, 1.45, 1.45, 1.45, 1.45, 1.45, 1.2, 2.1, 2.05], rows, size=8.5)

    # 2. Definitions.
    w.heading("2. How the figures are worked out", 1)
    w.table(["Term", "Meaning"], [4.2, 12.8],
            [[Filled(term, "F2F2F2", "1F3864"), text.format(tz=tz)]
             for term, text in DEFINITIONS], size=8.5)

    # 3.. one section per theme.
    number = 3
    for theme in board.themes:
        w.heading(f"{number}. {theme.name}", 1)
        number += 1
        counts = [[Filled(label, "F2F2F2", "1F3864"), *[str(counts[k]) for k in RAG_KEYS],
                   str(theme.total), f"{counts['red'] + counts['amber']} "
                                     f"({percent(counts['red'] + counts['amber'], theme.total)})"]
                  for label, counts in ((last_label, theme.last), (now_label, theme.now))]
        w.table(_counts_header("RAG counts"), [4.3, 1.7, 1.7, 1.7, 1.7, 1.7, 1.5, 2.7], counts,
                size=9)
        w.para(("Direction of travel: ", True), (theme.direction, True),
               f" – {_direction_text(theme)}")
        w.heading(f"Red and Amber actions ({len(theme.red_amber)})", 2)
        if theme.red_amber:
            w.table(["Ref", "Action", "Lead", "Due", "RAG", "Latest progress and corrective "
                     "action"], [1.1, 4.3, 2.9, 2.1, 1.45, 5.15],
                    [[clean(a.ref), _action_cell(a), leads_text(a), due_text(a), RagCell(a.rag),
                      _progress(a, tz)] for a in theme.red_amber])
        else:
            w.none("No Red or Amber actions in this theme at the as-of date.")

    # The lists across themes.
    w.heading(f"{number}. Actions that went worse ({len(board.worse)})", 1)
    number += 1
    w.para("Rating at the end of last period compared with the rating at the as-of date.",
           colour=GREY)
    if board.worse:
        w.table(["Ref", "Action", "Lead", "Was", "Now", "Since", "Latest progress and "
                 "corrective action"], [1.1, 3.9, 2.6, 1.5, 1.5, 1.7, 4.7],
                [row if isinstance(row, str) else
                 [clean(row.action.ref), _action_cell(row.action), leads_text(row.action),
                  RagCell(row.was), RagCell(row.now), _when(row.since, tz),
                  _progress(row.action, tz)]
                 for row in _grouped(board.worse, lambda c: c.theme)])
    else:
        w.none()

    w.heading(f"{number}. New Blue actions ({len(board.new_blue)})", 1)
    number += 1
    w.para("Actions achieved and evidenced this period, with their latest evidence.", colour=GREY)
    if board.new_blue:
        w.table(["Ref", "Action", "Lead", "Was", "Blue since", "Evidence"],
                [1.1, 4.6, 2.8, 1.6, 1.8, 5.1],
                [row if isinstance(row, str) else
                 [clean(row.action.ref), _action_cell(row.action), leads_text(row.action),
                  RagCell(row.was), _when(row.since, tz), _evidence(row.action)]
                 for row in _grouped(board.new_blue, lambda c: c.theme)])
    else:
        w.none()

    w.heading(f"{number}. Overdue actions ({len(board.overdue)})", 1)
    number += 1
    w.para(f"Due before {long_date(period.as_of)} and not Blue.", colour=GREY)
    if board.overdue:
        w.table(["Ref", "Action", "Lead", "Due", "Days overdue", "RAG"],
                [1.1, 6.8, 3.2, 2.3, 1.8, 1.8],
                [row if isinstance(row, str) else
                 [clean(row[0].ref), _action_cell(row[0]), leads_text(row[0]), due_text(row[0]),
                  str((period.as_of - row[0].due_date).days), RagCell(row[0].rag)]
                 for row in _grouped(board.overdue, lambda item: item[1])])
    else:
        w.none()

    w.heading(f"{number}. No update for 3 weeks or more ({len(board.stale)})", 1)
    number += 1
    w.para(f"Not Blue, and no update since "
           f"{long_date(period.as_of - timedelta(days=STALE_DAYS))} or earlier.", colour=GREY)
    if board.stale:
        w.table(["Ref", "Action", "Lead", "RAG", "Last update", "Days since"],
                [1.1, 7.0, 3.3, 1.8, 2.2, 1.6],
                [row if isinstance(row, str) else
                 [clean(row.action.ref), _action_cell(row.action), leads_text(row.action),
                  RagCell(row.action.rag), _when(row.last, tz, never="Never"),
                  str(row.days) if row.days is not None else "–"]
                 for row in _grouped(board.stale, lambda s: s.theme)])
    else:
        w.none()

    w.heading(f"{number}. Leads who did not respond ({len(data.non_responders)})", 1)
    if data.rounds:
        rounds = ", ".join(data.rounds)
        w.para(f"Check-in rounds started this period: {rounds} ({len(data.rounds)}); "
               f"{data.asked} people were sent a check-in, "
               f"{data.asked - len(data.non_responders)} answered every one.", colour=GREY)
    if not data.rounds:
        w.none("No check-in rounds were started this period.")
    elif data.non_responders:
        w.table(["Name", "Check-ins sent", "Not answered", "Rounds not answered", "Note"],
                [4.6, 2.2, 2.2, 4.0, 4.0],
                [[clean(p.name), str(p.asked), str(p.missed), ", ".join(p.rounds),
                  (f"{p.undelivered} could not be delivered (no Teams chat with the bot)"
                   if p.undelivered else "")] for p in data.non_responders])
    else:
        w.none("Every lead sent a check-in answered it.")
    buffer = BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


_DIRECTION_FILL = {"Better": "E2EFDA", "Worse": "FCE4D6", "Same": "F2F2F2"}


def _direction_text(theme: ThemeFigures) -> str:
    before = theme.last["red"] + theme.last["amber"]
    after = theme.now["red"] + theme.now["amber"]
    if theme.direction == "No actions":
        return "the theme has no actions."
    if theme.direction == "Not comparable":
        return "no action in this theme had a rating at the end of last period."
    return (f"{after} of {theme.total} actions Red or Amber "
            f"({percent(after, theme.total)}), against {before} of {theme.total} "
            f"({percent(before, theme.total)}) at the end of last period.")


def _when(moment: datetime | None, tz: str, never: str = "Not known") -> str:
    return short_date(local_day(moment, tz)) if moment is not None else never


def _evidence(action: ActionRow) -> Rich:
    evidence = action.latest_with("evidence")
    if not evidence:
        return Rich([[("No evidence recorded", False, True)]])
    return Rich([[(clean(evidence), False, False)]])


# --- Writing -------------------------------------------------------------------------------------


def write_bytes(data: bytes, out: Path | BinaryIO) -> None:
    """Write the whole file at once; a path goes through storage.export.files.write_atomic, so a
    failure leaves no partial file (and an existing file untouched)."""
    if isinstance(out, (str, Path)):
        write_atomic(Path(out), lambda handle: handle.write(data))
    else:
        out.write(data)


def board_report(snap: PlanSnapshot, data: BoardData, *, out: Path | BinaryIO,
                 generated_at: datetime | None = None) -> Board:
    """Build the board report and write it to `out` (a path or a binary file); returns the
    figures it holds. Raises ExportError for an empty plan or a path that cannot be written."""
    board = analyse(snap, data)
    content = build(board, generated_at=generated_at or datetime.now(UTC))
    write_bytes(content, out)
    return board


async def render_docx(*, session: AsyncSession, snap: PlanSnapshot,
                      generated_at: datetime | None = None) -> bytes:
    """The board report as bytes, for storage.export.render (CLI and chat)."""
    data = await board_data(session, snap)
    return build(analyse(snap, data), generated_at=generated_at or datetime.now(UTC))


async def write_board_report(session: AsyncSession, plan: Plan, *, as_of: date,
                             out: Path | BinaryIO, tz: str = "Europe/London",
                             generated_at: datetime | None = None) -> Board:
    """Snapshot, gather the check-ins, build and write: the one call a command needs."""
    snap = await snapshot(session=session, plan=plan, as_of=as_of, tz=tz)
    data = await board_data(session, snap)
    return board_report(snap, data, out=out, generated_at=generated_at)


__all__ = ["Board", "BoardData", "ExportError", "Period", "analyse", "board_data",
           "board_report", "build", "render_docx", "write_board_report"]
