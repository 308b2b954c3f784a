"""Reader for the DfE Improvement Notice to Rochdale, 10 April 2014 (extracted text).

Layout: a titled notice ("Improvement Notice") whose numbered sections ("1. Leadership and
Governance") hold numbered requirements ("- 1.1. Ensure that ..."). Each section is a theme and
each requirement is an objective that is also its own single action (same ref). The preamble's
(i)/(ii)/(iii) items and the closing assessment bullets are not requirements. There are no
leads, due dates or RAGs.
"""

from __future__ import annotations

import re

from storage.importers.draft import ActionDraft, ObjectiveDraft, PlanDraft, ThemeDraft
from storage.importers.textutil import (
    claim,
    fail,
    is_blank,
    join_continuation,
    normal_ref,
    split_lines,
)
from storage.rules import clean_text

LAYOUT = "rochdale-notice-2014"
PLAN_NAME = "Rochdale Improvement Notice 2014"
ORGANISATION = "Rochdale Metropolitan Borough Council"
YEAR = 2014
SOURCE = "DfE Improvement Notice, 10 April 2014"

_TITLE = re.compile(r"^\s*(?:\*\*)?Improvement Notice(?:\*\*)?\s*$", re.IGNORECASE)
_SECTION = re.compile(r"^(?P<ref>\d+)\.\s+(?P<name>[A-Z][^\t]*?)\s*$")
_REQUIREMENT = re.compile(r"^-\s*(?P<written>(?P<major>\d+)\.\d+\.?)\s+(?P<text>\S.*)$")
_OTHER_ITEM = re.compile(r"^-\s")
_SENTENCE_END = (".", ";", ":", "!", "?")
_TITLE_WITHIN = 10  # the title is among the first non-blank lines


def detect(text: str) -> bool:
    """True when the text is the Rochdale 2014 DfE Improvement Notice layout."""
    lines = split_lines(text)
    head = [line for line in lines if not is_blank(line)][:_TITLE_WITHIN]
    return (
        any(_TITLE.match(line) for line in head)
        and "Rochdale" in text
        and any(_REQUIREMENT.match(line.strip()) for line in lines)
        and any(_SECTION.match(line.strip()) for line in lines)
    )


def read(text: str, *, source: str | None = None) -> PlanDraft:
    """Read the Rochdale 2014 notice into a PlanDraft; PlanImportError names the line at fault."""
    lines = split_lines(text)
    title = next((i + 1 for i, line in enumerate(lines) if _TITLE.match(line)), None)
    if title is None:
        fail("no 'Improvement Notice' title found", None, source)
    themes: list[ThemeDraft] = []
    objectives: list[ObjectiveDraft] = []
    notes: list[str] = []
    seen_sections: dict[str, int] = {}
    seen_refs: dict[str, int] = {}
    section_lines: dict[str, int] = {}
    last: ObjectiveDraft | None = None  # the requirement a run-on line may continue

    for index, raw in enumerate(lines):
        number, line = index + 1, raw.strip()
        if is_blank(raw):
            continue
        section = _SECTION.match(line)
        if section:
            claim(seen_sections, section["ref"], number, source, "section")
            themes.append(ThemeDraft(name=clean_text(section["name"]), ref=section["ref"]))
            section_lines[section["ref"]] = number
            last = None
            continue
        requirement = _REQUIREMENT.match(line)
        if requirement:
            written = requirement["written"]
            ref = normal_ref(written)
            if not themes:
                fail(f"requirement {written} is outside any section", number, source)
            if requirement["major"] != themes[-1].ref:
                fail(f"requirement {written} is under section {themes[-1].ref}", number, source)
            claim(seen_refs, ref, number, source, "requirement")
            if not written.endswith("."):
                notes.append(f"line {number}: {ref} is written without a trailing dot")
            body = clean_text(requirement["text"])
            action = ActionDraft(ref=ref, ref_as_written=written, text=body, line=number)
            last = ObjectiveDraft(
                ref=ref,
                text=body,
                theme=themes[-1].name,
                source=SOURCE,
                line=number,
                actions=[action],
            )
            objectives.append(last)
            continue
        if last is not None and _runs_on(last.text, line):
            last.text = join_continuation(last.text, clean_text(line))
            last.actions[0].text = last.text
            notes.append(f"line {number}: continues requirement {last.ref} (line {last.line})")
            continue
        last = None

    for theme in themes:
        if not any(objective.theme == theme.name for objective in objectives):
            fail(f"section {theme.ref} has no requirements", section_lines[theme.ref], source)
    if not objectives:
        fail("the notice has no numbered requirements ('- 1.1. ...')", title, source)
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


def _runs_on(text: str, line: str) -> bool:
    """True when a plain line continues a requirement cut mid-sentence by a page break."""
    return not text.endswith(_SENTENCE_END) and not _OTHER_ITEM.match(line) and line[:1].islower()
