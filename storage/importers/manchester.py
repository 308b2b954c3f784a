"""Reader for Manchester's 2015 children's services improvement plan (tab-separated table text).

Shared header matching (columns.py) and ref splitting (tab_refs.py); the repairs live here, each
one applied written to draft.notes: page headers on every page; cells shifted one column left
(21d, 21e) or progress spilled into Deadline (2d); an action on the next recommendation's first
row (8c on 9's); leads on the row below their action (9c, 20b); several actions in one cell;
rows with no action (orphans); RAG and leads filled down within a recommendation, due dates not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from storage.importers.columns import (
    HeaderMap,
    is_page_furniture,
    lead_name,
    match_header,
    normalise_header,
)
from storage.importers.draft import (
    ActionDraft,
    LeadDraft,
    ObjectiveDraft,
    PlanDraft,
    PlanImportError,
    ThemeDraft,
)
from storage.importers.tab_refs import leading_ref, objective_of, parse_objective, split_actions
from storage.rules import clean_text, parse_due, parse_rag, ref_key

LAYOUT = "manchester-2015"
ORGANISATION = "Manchester City Council"
SOURCE = "Ofsted 2014"
_PAGE_DATE = re.compile(r"[A-Z][a-z]{2}-(\d{2})\b")
_ACTION_REF = re.compile(r"\d{1,3}\.?[a-z]")
_DONE = ("completed", "complete", "ongoing")
_COLUMNS = ("theme", "objective", "action", "rag", "rating_change", "progress", "due", "evidence",
            "outcome")


def _header(cells: list[str]) -> HeaderMap | None:
    header = match_header(cells)
    if header is None or not all(header.has(name) for name in _COLUMNS):
        return None
    objective = header.first("objective")
    sourced = objective is not None and normalise_header(objective.header) == "source ofsted"
    return header if sourced and len(header.all("lead")) >= 2 else None


def detect(text: str) -> bool:
    """True for the Manchester 2015 layout: a tab table headed Theme / Source/Ofsted / Actions."""
    return any(_header(line.split("\t")) for line in text.splitlines()[:300] if "\t" in line)


@dataclass
class _Rec:
    ref: str
    text: str
    theme: str | None
    line: int
    strategic_lead: str | None
    outcome: str | None
    actions: list[dict] = field(default_factory=list)
    rag: str | None = None  # fill-down state
    leads: list[LeadDraft] = field(default_factory=list)
    pending: dict[str, str | None] = field(default_factory=dict)


def _ranges(lines: list[int]) -> str:
    starts = [n for n in lines if n - 1 not in lines]
    ends = [n for n in lines if n + 1 not in lines]
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, ends, strict=True))


class _Reader:
    def __init__(self, header: HeaderMap, source: str | None):
        self.source = source
        self.col = {column.field: column.index for column in reversed(header.columns)}
        self.width = max(self.col.values()) + 2  # a row shifted left gains a cell
        self.leads = header.all("lead")
        self.themes: list[str] = []
        self.theme: str | None = None
        self.recs: dict[str, _Rec] = {}
        self.current: _Rec | None = None
        self.previous: list[dict] = []
        self.last: dict | None = None
        self.notes: list[str] = []
        self.furniture: list[int] = []
        self.line = 0
        self.year: int | None = None

    def rec(self) -> _Rec:
        if self.current is None:
            raise PlanImportError("a row comes before the first recommendation",
                                  line=self.line, source=self.source)
        return self.current

    def get(self, cells: list[str], name: str) -> str:  # rows are padded to the header's width
        return clean_text(cells[self.col[name]])

    def realign(self, line: int, cells: list[str]) -> list[str]:
        theme, objective, action = (cells + ["", "", ""])[:3]
        found = leading_ref(objective)
        if not clean_text(theme) and found and _ACTION_REF.fullmatch(found[0]) and (
            not clean_text(action) or parse_rag(action)
        ):
            self.notes.append(f"line {line}: cells shifted one column left (action {found[0]} "
                              "in the Source/Ofsted column); realigned")
            return [""] + cells
        progress, due, evidence = (self.get(cells, n) for n in ("progress", "due", "evidence"))
        deadline_like = parse_due(evidence) is not None or evidence.lower() in _DONE
        if not progress and len(due) > 60 and 0 < len(evidence) <= 30 and deadline_like:
            self.notes.append(f"line {line}: progress note printed in the Deadline column; "
                              f"columns realigned, so the deadline is {evidence!r}")
            index = self.col["progress"]
            return cells[:index] + cells[index + 1:]
        return cells

    def furniture_row(self, line: int, texts: list[str]) -> bool:
        filled = [text for text in texts if text]
        if len(filled) != 1 or texts[0] != filled[0] or not is_page_furniture(filled[0]):
            return False
        self.furniture.append(line)
        date = _PAGE_DATE.match(filled[0])
        self.year = self.year or (2000 + int(date[1]) if date else None)
        return True

    def row(self, line: int, cells: list[str]) -> None:
        self.line, cells = line, self.realign(line, cells)
        theme = self.get(cells, "theme")
        if theme:
            self.theme = theme
            if theme not in self.themes:
                self.themes.append(theme)
        ref, text = parse_objective(cells[self.col["objective"]])
        if ref and ref in self.recs and self.recs[ref] is not self.current:
            self.notes.append(f"line {line}: recommendation {ref} appears again; rows added to it")
            self.current = self.recs[ref]
        elif ref and ref not in self.recs:
            self.current = self.recs[ref] = _Rec(ref, text, self.theme, line,
                                                 lead_name(cells[self.leads[0].index]) or None,
                                                 self.get(cells, "outcome") or None)
        rag = self.get(cells, "rag")
        if rag and not parse_rag(rag):
            self.notes.append(f"line {line}: {rag!r} in the Current RAG column is not a RAG")
            rag = ""
        leads = [LeadDraft(name=lead_name(cells[c.index]), role=c.role)
                 for c in self.leads if c.index < len(cells) and lead_name(cells[c.index])]
        actions = split_actions(cells[self.col["action"]])
        if not actions:
            self.no_action(line, cells, leads, bool(ref))
            return
        if len(actions) > 1:
            self.notes.append(f"line {line}: one cell holds {', '.join(a[1] for a in actions)}; "
                              f"they share the row's RAG, leads and deadline; its progress notes "
                              f"stay on {actions[0][1]}")
        made: list[dict] = []
        for position, (written, action_ref, action_text) in enumerate(actions):
            if not action_ref:
                self.run_on(line, cells, action_text)
                continue
            self.note_ref(line, cells, written, action_ref, position)
            rec = self.rec()
            prefix = objective_of(action_ref)
            if prefix and prefix != rec.ref and prefix in self.recs:
                made.append(self.stray(line, cells, action_ref, written, action_text, rag, leads))
                continue
            action = {"ref": action_ref, "ref_as_written": written, "text": action_text,
                      "line": line, "due": self.get(cells, "due") or None,
                      "rating_change": self.get(cells, "rating_change") or None}
            if rag:
                action["rag"] = rec.rag = rag
            elif rec.rag:
                action.update(rag=rec.rag, rag_inherited=True)
            if leads:
                action["leads"], rec.leads = leads, leads
            else:
                action.update(leads=rec.leads, leads_inherited=bool(rec.leads))
            if position == 0:
                for name in ("progress", "evidence", "outcome"):
                    action[name] = self.get(cells, name) or rec.pending.pop(name, None)
            made.append(self.add(rec, action))
        self.previous = made

    def run_on(self, line: int, cells: list[str], text: str) -> None:
        """Action text with no ref continues the action above (a row split across pages)."""
        above = self.last
        if above is None:
            self.notes.append(f"line {line}: action text with no ref and no action above, "
                              f"not imported: {text[:50]!r}")
            return
        above["text"] = f"{above['text']} {text}"
        for name in ("progress", "evidence"):
            extra = self.get(cells, name)
            above[name] = f"{above.get(name) or ''} {extra}".strip() or None
        self.notes.append(f"line {line}: text with no ref continues {above['ref']} above")

    def note_ref(self, line: int, cells: list[str], written: str, ref: str, position: int) -> None:
        glued = position == 0 and clean_text(cells[self.col["action"]])[len(written):][:1].isalpha()
        if written != ref or glued:
            self.notes.append(f"line {line}: ref written {written!r}"
                              f"{' with no space before the text' if glued else ''}, read as {ref}")

    def stray(self, line: int, cells: list[str], ref: str, written: str, text: str, rag: str,
              leads: list[LeadDraft]) -> dict:
        """An action printed on the next recommendation's first row (8c on 9's row)."""
        rec, row_rec = self.recs[objective_of(ref) or ""], self.rec()
        self.notes.append(
            f"line {line}: action {ref} is printed on recommendation {row_rec.ref}'s first row; "
            f"it belongs to recommendation {rec.ref} and takes its RAG and leads; the row's RAG, "
            f"leads and progress go to recommendation {row_rec.ref}'s next action (its deadline "
            f"is not filled down)")
        action = {"ref": ref, "ref_as_written": written, "text": text, "line": line,
                  "leads": rec.leads, "leads_inherited": bool(rec.leads)}
        if rec.rag:
            action.update(rag=rec.rag, rag_inherited=True)
        row_rec.rag, row_rec.leads = rag or row_rec.rag, leads or row_rec.leads
        row_rec.pending = {n: self.get(cells, n) or None for n in ("progress", "evidence")}
        return self.add(rec, action)

    def add(self, rec: _Rec, action: dict) -> dict:
        for other in rec.actions:
            if ref_key(other["ref"]) == ref_key(action["ref"]):
                raise PlanImportError(
                    f"action {action['ref']} appears twice in recommendation {rec.ref}: "
                    f"line {other['line']} and line {action['line']}",
                    line=action["line"], source=self.source)
        rec.actions.append(action)
        self.last = action
        return action

    def no_action(self, line: int, cells: list[str], leads: list[LeadDraft], new: bool) -> None:
        above = self.previous[-1] if self.previous else None
        if leads and above and not new and (len(self.previous) > 1 or above.get("leads_inherited")):
            names = " / ".join(lead.name for lead in leads)
            self.notes.append(f"line {line}: leads {names} with no action are read as the leads "
                              f"of {above['ref']} on the row above (line {above['line']})")
            above.update(leads=leads, leads_inherited=False)
            self.recs[objective_of(above["ref"]) or ""].leads = leads
            for name in ("progress", "evidence", "outcome"):
                above[name] = above.get(name) or self.get(cells, name) or None
        elif shown := [clean_text(c) for i, c in enumerate(cells) if i != self.col["theme"]
                       and clean_text(c)]:
            self.notes.append(f"line {line}: row with no action (recommendation {self.rec().ref}"
                              f"), not imported: {shown[0][:50]!r}")
        self.previous = []

    def draft(self) -> PlanDraft:
        if self.furniture:
            self.notes.append("page headers (date, RAG key, repeated column header) skipped on "
                              f"lines {_ranges(self.furniture)}")
        self.notes.append("progress, deadline and evidence cells stay on the row they are printed "
                          "on; they do not always line up with that row's action")
        self.notes.append(f"objective source {SOURCE!r}: the Source/Ofsted column holds the "
                          "recommendations of the 2014 Ofsted inspection")
        objectives = []
        for rec in self.recs.values():
            filled = [a["ref"] for a in rec.actions if a.get("rag_inherited")]
            if filled:
                self.notes.append(f"recommendation {rec.ref}: RAG filled down from the row above "
                                  f"for {', '.join(filled)}")
            if not any(a.get("rag") for a in rec.actions):
                self.notes.append(f"recommendation {rec.ref} has no RAG on any row")
            objectives.append(ObjectiveDraft(
                ref=rec.ref, text=rec.text, theme=rec.theme, source=SOURCE, line=rec.line,
                outcome=rec.outcome, strategic_lead=rec.strategic_lead,
                actions=[ActionDraft(**{**action, "leads": [lead.model_copy() for lead in
                                                             action.get("leads", [])]})
                         for action in rec.actions]))
        year = self.year or 2015
        return PlanDraft(
            name=f"Manchester Children's Services Improvement Plan {year}",
            organisation=ORGANISATION, year=year, layout=LAYOUT, source_file=self.source,
            themes=[ThemeDraft(name=theme) for theme in self.themes],
            objectives=objectives, notes=self.notes)


def read(text: str, *, source: str | None = None) -> PlanDraft:
    """Read the Manchester 2015 plan text into a PlanDraft (see the module docstring)."""
    lines = text.replace("\r\n", "\n").split("\n")
    found = next(((i, h) for i, line in enumerate(lines) if (h := _header(line.split("\t")))),
                 None)
    if found is None:
        raise PlanImportError("no header row 'Theme, Source/Ofsted, Actions, Current RAG, …, "
                              "Outcome' found", source=source)
    start, header = found
    reader = _Reader(header, source)
    for number, line in enumerate(lines[start + 1:], start + 2):
        cells = line.split("\t")
        texts = [clean_text(cell) for cell in cells]
        if not any(texts):
            continue
        if match_header(cells) is not None:
            reader.furniture.append(number)
        elif not reader.furniture_row(number, texts):
            reader.row(number, cells + [""] * (reader.width - len(cells)))
    return reader.draft()
