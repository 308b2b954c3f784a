"""The board report's Word building blocks: an A4 portrait python-docx Document in Arial with
the report's heading styles, tables whose header row repeats on every page, RAG cells shaded in
their colour with the word written in them, pictures with alternative text and a page-numbered
footer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import BytesIO

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from storage.export.style import RAG_LOOK, rag_key

FONT = "Arial"
INK = RGBColor(0x1F, 0x38, 0x64)  # headings: dark blue
GREY = RGBColor(0x59, 0x59, 0x59)
HEADER_FILL = "1F3864"
THEME_FILL = "DCE6F1"
BORDER = "A6A6A6"
_BAD_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: object) -> str:
    """Text as written, without the control characters a Word file cannot hold."""
    return _BAD_XML.sub("", str(text)) if text is not None else ""


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


def bottom_rule(paragraph, colour: str = HEADER_FILL, size: int = 12) -> None:
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


class Writer:
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
