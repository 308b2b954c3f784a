"""Reader for Rochdale's 2018-19 council plan action list (children's services, CS18 objectives).

Layout: objective headings "CS18001 <title>" in **bold** with the due date on the next line, or as
<b>…</b> table rows with the due date in the second cell; then progress commentary paragraphs
(italic or plain); then a "Ref / Name / Due / Status" table of actions "■ CS18001.A<tab>name<tab>
due<tab>■". A repeated "Action Plan / Due Date / Status" page header can split a name cell or a
commentary paragraph. There are no themes, leads or RAGs (the "■" status colour was lost).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from storage.importers.draft import ActionDraft, ObjectiveDraft, PlanDraft
from storage.importers.textutil import (
    cells,
    claim,
    fail,
    is_blank,
    is_rule,
    join_continuation,
    split_lines,
    unbold,
)
from storage.rules import clean_text, parse_due

LAYOUT = "rochdale-2018"
PLAN_NAME = "Rochdale Children's Services Council Plan 2018-19"
ORGANISATION = "Rochdale Metropolitan Borough Council"
YEAR = 2018

_MD_HEADING = re.compile(r"^\*\*(?P<ref>CS\d{5})\s+(?P<title>.+?)\*\*\s*$")
_MD_DATE = re.compile(r"^\*\*(?P<due>[^*]+)\*\*\s*$")
_HTML_HEADING = re.compile(r"^<b>(?P<ref>CS\d{5})\s+(?P<title>.+?)</b>\t<b>(?P<due>[^<]*)</b>")
_ACTION = re.compile(
    r"^(?:■\s*)?(?P<ref>(?P<objective>CS\d{5})\.(?P<letter>[A-Z]))(?=[\s\t])(?P<rest>.*)$"
)
_PAGE_HEADER = re.compile(r"^(?:\*\*)?Action Plan\b.*Due Date")
_TABLE_HEADER = re.compile(r"^Ref\tName\tDue\b")
_SENTENCE_END = (".", "!", "?", ":", ";")


@dataclass
class _Objective:
    """One CS18 objective while scanning: the draft plus its commentary paragraphs."""

    draft: ObjectiveDraft
    commentary: list[str] = field(default_factory=list)
    commentary_open: bool = False  # last paragraph was cut by a page header mid-sentence


@dataclass
class _Scan:
    """Everything read from the text."""

    objectives: list[_Objective] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def detect(text: str) -> bool:
    """True when the text is the Rochdale 2018 CS18 council plan action list."""
    lines = split_lines(text)
    return any(re.match(r"^■\s*CS\d{5}\.[A-Z]\b", line) for line in lines) and any(
        _MD_HEADING.match(line) or _HTML_HEADING.match(line) for line in lines
    )


def _heading(lines: list[str], index: int, source: str | None) -> ObjectiveDraft | None:
    """The objective heading on this line (either style), with its due date, or None."""
    line = lines[index]
    html = _HTML_HEADING.match(line)
    if html:
        due = clean_text(html["due"])
        title = unbold(html["title"])
        ref = html["ref"]
    else:
        markdown = _MD_HEADING.match(line)
        if not markdown:
            return None
        following = next((text for text in lines[index + 1 :] if not is_blank(text)), "")
        date = _MD_DATE.match(following.strip())
        due = clean_text(date["due"]) if date else ""
        title, ref = unbold(markdown["title"]), markdown["ref"]
    if not due or parse_due(due) is None:
        fail(f"objective {ref} has no due date", index + 1, source)
    return ObjectiveDraft(ref=ref, text=title, due=due, line=index + 1)


def _action_row(
    match: re.Match[str], current: ObjectiveDraft, number: int, source: str | None, notes: list[str]
) -> ActionDraft:
    """One '■ CS18001.A<tab>name<tab>due' row (a space after the ref is accepted too)."""
    row = cells(match["rest"].strip())
    name = clean_text(row[0])
    due = clean_text(row[1]) if len(row) > 1 else ""
    if not name:
        fail(f"action {match['ref']} has no name", number, source)
    if not due or parse_due(due) is None:
        fail(f"action {match['ref']} has no due date", number, source)
    ref = match["ref"]
    if match["objective"] != current.ref:
        ref = f"{current.ref}.{match['letter']}"
        notes.append(f"line {number}: {match['ref']} sits under {current.ref}; read as {ref}")
    return ActionDraft(ref=ref, ref_as_written=match["ref"], text=name, due=due, line=number)


def _commentary(objective: _Objective, line: str, after_page_header: bool) -> None:
    """Add one commentary paragraph, joining a sentence that a page header cut in two."""
    paragraph = clean_text(line.strip().strip("*"))
    if not paragraph:
        return
    if objective.commentary and after_page_header and objective.commentary_open:
        objective.commentary[-1] = join_continuation(objective.commentary[-1], paragraph)
    else:
        objective.commentary.append(paragraph)
    objective.commentary_open = not paragraph.endswith(_SENTENCE_END)


def _scan(text: str, source: str | None) -> _Scan:
    """Walk the lines once: headings, commentary, action rows and page-break continuations."""
    lines = split_lines(text)
    scan = _Scan()
    seen_objectives: dict[str, int] = {}
    seen_actions: dict[str, int] = {}
    current: _Objective | None = None
    in_table = after_page_header = False
    skip_date_line: int | None = None

    for index, line in enumerate(lines):
        number = index + 1
        if is_blank(line) or is_rule(line) or number == skip_date_line:
            continue
        if _PAGE_HEADER.match(line.strip()):
            after_page_header = True
            continue
        heading = _heading(lines, index, source)
        if heading:
            claim(seen_objectives, heading.ref, number, source, "objective")
            current = _Objective(draft=heading)
            scan.objectives.append(current)
            in_table = after_page_header = False
            if _MD_HEADING.match(line):
                skip_date_line = next(
                    i + 1 for i in range(index + 1, len(lines)) if not is_blank(lines[i])
                )
            continue
        action = _ACTION.match(line.strip())
        if action:
            if current is None:
                fail(f"action {action['ref']} is outside any objective", number, source)
            draft = _action_row(action, current.draft, number, source, scan.notes)
            claim(seen_actions, draft.ref, number, source, "action")
            current.draft.actions.append(draft)
            in_table, after_page_header = True, False
            continue
        if current is None:
            fail(f"text before the first objective: {clean_text(line)[:40]!r}", number, source)
        if _TABLE_HEADER.match(line.strip()):
            in_table = True
            continue
        if in_table:
            # Only a name cell cut by a page header runs on: anything else breaks the layout.
            more = cells(line)
            if not current.draft.actions:
                fail(f"text in the {current.draft.ref} table is not an action", number, source)
            last = current.draft.actions[-1]
            if any(c.strip() for c in more[1:]) or line.lstrip().startswith("*"):
                fail(f"unexpected row after {last.ref}", number, source)
            if not after_page_header:
                fail(f"unexpected text after {last.ref} (not after a page break)", number, source)
            last.text = join_continuation(last.text, clean_text(more[0]))
            scan.notes.append(f"line {number}: continues the name of {last.ref} (line {last.line})")
            continue
        _commentary(current, line, after_page_header)
        after_page_header = False

    if not scan.objectives:
        fail("no CS objective headings found", None, source)
    for objective in scan.objectives:
        if not objective.draft.actions:
            fail(f"objective {objective.draft.ref} has no actions", objective.draft.line, source)
    return scan


def read(text: str, *, source: str | None = None) -> PlanDraft:
    """Read the Rochdale 2018 plan into a PlanDraft (commentary goes to ObjectiveDraft.progress)."""
    scan = _scan(text, source)
    for objective in scan.objectives:
        objective.draft.progress = "\n\n".join(objective.commentary) or None
    return PlanDraft(
        name=PLAN_NAME,
        organisation=ORGANISATION,
        year=YEAR,
        layout=LAYOUT,
        source_file=source,
        themes=[],
        objectives=[objective.draft for objective in scan.objectives],
        notes=scan.notes,
    )

