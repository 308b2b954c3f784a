"""The core of the tabular reader: rows under a recognised header row -> PlanDraft.

Rules: repeated header rows are skipped; a blank theme / objective / lead / RAG cell on a row whose
objective cell is blank means "same as above" (merged cells), never across into another objective;
due dates are not filled down; rows with no action text are noted as orphans; a row with action
text but no ref continues the action above; an action ref twice in one objective is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.importers.columns import (
    Column,
    HeaderMap,
    find_header,
    is_page_furniture,
    lead_name,
    match_header,
)
from storage.importers.draft import (
    ActionDraft,
    LeadDraft,
    ObjectiveDraft,
    PlanDraft,
    PlanImportError,
    ThemeDraft,
)
from storage.importers.tab_refs import normalise_ref, objective_of, parse_objective, split_actions
from storage.importers.textutil import cell_text
from storage.rules import clean_text, parse_rag, ref_key

_ROW_TEXT = ("progress", "evidence", "outcome", "measures", "cost")
_ROW_VALUES = ("start", "due", "rating_change")
_CONTEXT = ("theme", "objective", "objective_ref", "objective_source")


@dataclass
class _Group:
    """An objective (or the loose actions of a theme) being built, with its fill-down state."""

    ref: str
    text: str
    theme: str | None
    line: int
    actions: list[dict] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    rag: str | None = None
    leads: dict[int, list[str]] = field(default_factory=dict)  # column -> names, for fill-down
    extra: dict[str, str | None] = field(default_factory=dict)


class _Builder:
    def __init__(self, header: HeaderMap, source: str | None):
        self.header, self.source = header, source
        self.themes: list[str] = []
        self.theme: str | None = None
        self.groups: dict[str, _Group] = {}
        self.loose: dict[str, _Group] = {}
        self.current: _Group | None = None
        self.last: tuple[_Group, dict] | None = None
        self.notes: list[str] = []
        self.bad_rag: dict[str, list[int]] = {}
        self.numbered = False
        self.has_objective = header.has("objective") or header.has("objective_ref")

    def raw(self, cells: list[str], name: str) -> str:
        column = self.header.first(name)
        return cells[column.index] if column and column.index < len(cells) else ""

    def cell(self, cells: list[str], name: str) -> str:
        return clean_text(self.raw(cells, name))

    def paragraphs(self, cells: list[str], name: str) -> str:
        """A text cell with its line breaks kept (bullets, paragraphs), spaces tidied."""
        return cell_text(self.raw(cells, name))

    def objective(self, ref: str | None, text: str, line: int) -> _Group:
        key = ref_key(ref) if ref else "text:" + text.lower()
        group = self.groups.get(key)
        if group is None:  # an objective with no ref gets its number at the end (see refs())
            group = self.groups[key] = _Group(ref or "", text, self.theme, line)
        elif text and not group.text:
            group.text = text
        return group

    def row(self, line: int, cells: list[str]) -> None:
        filled = [text for text in (clean_text(cell) for cell in cells) if text]
        if not filled:
            return
        if match_header(cells) is not None:
            self.notes.append(f"line {line}: repeated header row skipped")
            return
        if len(filled) == 1 and is_page_furniture(filled[0]):
            self.notes.append(f"line {line}: page header skipped ({filled[0][:40]!r})")
            return
        theme = self.cell(cells, "theme")
        if theme:
            self.theme = theme
            if theme.lower() not in (known.lower() for known in self.themes):
                self.themes.append(theme)
        actions = self.actions_of(cells)
        hint = objective_of(actions[0][1]) if actions and actions[0][1] else None
        explicit = bool(self.cell(cells, "objective") or self.cell(cells, "objective_ref"))
        if explicit:
            ref = normalise_ref(self.cell(cells, "objective_ref")) or None
            text_ref, text = parse_objective(self.raw(cells, "objective"), hint=ref or hint)
            if ref and text_ref and ref_key(text_ref) != ref_key(ref):
                text = self.cell(cells, "objective")
            self.current = self.objective(ref or text_ref or hint, text, line)
            if self.current.line == line:
                self.objective_details(self.current, cells)
        merged = not explicit if self.has_objective else not (theme and self.header.has("theme"))
        if not actions:
            if explicit and self.current is not None:
                self.seed(self.current, cells)
            elif any(clean_text(c) for i, c in enumerate(cells) if not self.is_context(i)):
                self.orphan(line, cells)
            return
        for position, (written, ref, text) in enumerate(actions):
            self.add(line, cells, written, ref, text, position, merged, explicit)

    def actions_of(self, cells: list[str]) -> list[tuple[str, str, str]]:
        written = self.cell(cells, "action_ref")
        raw = self.raw(cells, "action")
        if not written:
            return split_actions(raw)
        text = cell_text(raw)
        found = split_actions(raw)
        if found and found[0][1] and ref_key(found[0][1]) == ref_key(written):
            text = found[0][2]
        return [(written, normalise_ref(written), text)] if text else []

    def is_context(self, index: int) -> bool:
        return any(column.index == index for name in _CONTEXT for column in self.header.all(name))

    def objective_details(self, group: _Group, cells: list[str]) -> None:
        group.extra["source"] = self.cell(cells, "objective_source") or None
        strategic = [c for c in self.header.all("lead") if c.role == "strategic"]
        if strategic and strategic[0].index < len(cells):
            group.extra["strategic_lead"] = lead_name(cells[strategic[0].index]) or None

    def seed(self, group: _Group, cells: list[str]) -> None:
        """An objective heading row: its due date, RAG and leads start the merged blocks below."""
        group.extra.setdefault("due", self.cell(cells, "due") or None)
        rag = self.cell(cells, "rag")
        if rag and parse_rag(rag):
            group.rag = rag
        for column in self.header.all("lead"):
            if names := lead_lines(cells, column):
                group.leads[column.index] = names

    def orphan(self, line: int, cells: list[str]) -> None:
        shown = [f"{column.header}: {clean_text(cells[column.index])[:40]}"
                 for column in self.header.columns if column.field not in _CONTEXT
                 and column.index < len(cells) and clean_text(cells[column.index])]
        summary = "; ".join(shown[:2]) or "cells outside the known columns"
        self.notes.append(f"line {line}: row has no action text, not imported ({summary})")

    def target(self, ref: str, line: int, explicit: bool) -> _Group:
        prefix = objective_of(ref)
        group = self.current if self.has_objective else None
        if prefix and (group is None or ref_key(prefix) != ref_key(group.ref)):
            existing = self.groups.get(ref_key(prefix))
            if existing is not None or not explicit or group is None:
                if explicit and group is not None:
                    self.notes.append(
                        f"line {line}: action {ref} is on objective {group.ref}'s row but its ref "
                        f"names objective {prefix}; filed under {prefix}"
                    )
                group = existing or self.objective(prefix, "", line)
                if self.has_objective:
                    self.current = group
            elif ref_key(ref) != ref_key(group.ref):
                self.notes.append(f"line {line}: action {ref}'s ref names objective {prefix} but "
                                  f"the row names objective {group.ref}; filed under {group.ref}")
        if group is None:
            theme = self.theme or ""
            group = self.loose.setdefault(theme, _Group("", "", self.theme, line))
        return group

    def add(self, line: int, cells: list[str], written: str, ref: str, text: str,
            position: int, fill: bool, explicit: bool) -> None:
        if not ref and self.last is not None and self.last[1]["ref_as_written"] and position == 0:
            if not explicit or self.last[0] is self.current:
                self.join(line, cells, text)
                return
        group = self.target(ref, line, explicit)
        key = ref_key(ref)
        if key and key in group.seen:
            where = f"objective {group.ref}" if group.ref else f"theme {group.theme or '(none)'}"
            raise PlanImportError(
                f"action {ref} appears twice in {where}: line {group.seen[key]} and line {line}",
                line=line, source=self.source,
            )
        if key:
            group.seen[key] = line
        action: dict = {"ref": ref, "ref_as_written": written, "text": text, "line": line}
        rag = self.cell(cells, "rag")
        if rag and parse_rag(rag):
            action["rag"] = group.rag = rag
        elif rag:
            self.bad_rag.setdefault(rag, []).append(line)
        elif fill and group.rag:
            action.update(rag=group.rag, rag_inherited=True)
        impact = self.cell(cells, "impact_rag")
        action["impact_rag"] = impact if parse_rag(impact) else None
        leads: list[LeadDraft] = []
        for column in self.header.all("lead"):
            names = lead_lines(cells, column)
            if names:
                group.leads[column.index] = names
            elif fill and column.index in group.leads:
                names = group.leads[column.index]
                action["leads_inherited"] = True
            leads += [LeadDraft(name=name, role=column.role) for name in names]
        action["leads"] = leads
        for name in _ROW_VALUES:
            action[name] = self.cell(cells, name) or None
        for name in _ROW_TEXT if position == 0 else ():
            action[name] = self.paragraphs(cells, name) or None
        group.actions.append(action)
        self.last = (group, action)

    def join(self, line: int, cells: list[str], text: str) -> None:
        assert self.last is not None
        action = self.last[1]
        action["text"] = f"{action['text']} {text}".strip()
        for name in _ROW_VALUES + _ROW_TEXT:
            value = self.cell(cells, name)
            if value and name in _ROW_TEXT and action.get(name):
                action[name] = f"{action[name]} {value}"
            elif value and not action.get(name):
                action[name] = value
        self.notes.append(f"line {line}: continues action {action['ref']} (line {action['line']})")

    def refs(self) -> None:
        """Number the objectives and actions that have no ref, clear of every written ref."""
        used = {ref_key(group.ref) for group in self.groups.values()}
        number = 0
        for group in self.groups.values():
            while not group.ref:
                number += 1
                if str(number) not in used:
                    group.ref = str(number)
                    self.notes.append(f"line {group.line}: objective has no ref; numbered {number}")
        for group in [*self.groups.values(), *self.loose.values()]:
            count = 0
            for action in group.actions:
                while not action["ref"]:
                    count += 1
                    ref = f"{group.ref}.{count}" if group.ref else str(count)
                    if ref_key(ref) not in group.seen:
                        action["ref"] = ref
                        group.seen[ref_key(ref)] = action["line"]
                if not action["ref_as_written"] and not self.numbered:
                    self.notes.append("actions with no ref are numbered in row order")
                    self.numbered = True

    def draft(self, *, name: str, layout: str) -> PlanDraft:
        self.refs()
        for value, lines in self.bad_rag.items():
            shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
            self.notes.append(f"RAG cell {value!r} is not a RAG value, ignored (lines {shown})")
        for column in self.header.all("last_update"):
            self.notes.append(f"column {column.header!r} is recognised but not imported")
        objectives = []
        for group in self.groups.values():
            if not group.text:
                self.notes.append(f"objective {group.ref} has no text of its own (from its refs)")
            objectives.append(ObjectiveDraft(
                ref=group.ref, text=group.text, theme=group.theme, line=group.line,
                source=group.extra.get("source"), due=group.extra.get("due"),
                strategic_lead=group.extra.get("strategic_lead"),
                actions=[ActionDraft(**action) for action in group.actions],
            ))
        loose = [(g.theme, ActionDraft(**a)) for g in self.loose.values() for a in g.actions]
        return PlanDraft(
            name=name, layout=layout, source_file=self.source,
            themes=[ThemeDraft(name=theme) for theme in self.themes],
            objectives=objectives, loose_actions=loose,
            unknown_columns=list(self.header.unknown + self.header.demoted), notes=self.notes,
        )


def lead_lines(cells: list[str], column: Column) -> list[str]:
    """The leads in one lead cell, one per line ("AD Education\nHead of Virtual School")."""
    cell = cells[column.index] if column.index < len(cells) else ""
    return [name for name in (lead_name(line) for line in (cell or "").splitlines()) if name]


def build_draft(rows: list[list[str]], *, source: str | None, name: str, layout: str) -> PlanDraft:
    """A PlanDraft from table rows (cells as text); raises PlanImportError naming the line."""
    if not any(clean_text(cell) for row in rows for cell in row):
        raise PlanImportError("the file is empty: no rows to read", source=source)
    found = find_header(rows)
    if found is None:
        line = next(i for i, row in enumerate(rows, 1) if any(clean_text(c) for c in row))
        shown = ", ".join(clean_text(c) for c in rows[line - 1] if clean_text(c))[:80]
        raise PlanImportError(
            f"no header row found (first row reads {shown!r}); expected column names such as "
            "'Ref', 'Action', 'Lead', 'Due', 'RAG'",
            line=line, source=source,
        )
    at, header = found
    builder = _Builder(header, source)
    for index in range(at + 1, len(rows)):
        builder.row(index + 1, rows[index])
    return builder.draft(name=name, layout=layout)
