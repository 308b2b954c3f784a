"""Choose the reader for a plan file and describe what it found (for --dry-run)."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path

from storage.importers.draft import PlanDraft, PlanImportError
from storage.rules import parse_rag

# Real plan layouts recognised in text files, tried in this order.
TEXT_LAYOUTS = ("manchester", "tameside", "rochdale2018", "rochdale2014")
MAX_BYTES = 50 * 1024 * 1024


def _layout(name: str):
    return importlib.import_module(f"storage.importers.{name}")


def read_plan_bytes(data: bytes, *, filename: str, name: str | None = None) -> PlanDraft:
    """Read a plan from a file's bytes; the file name's ending chooses the format."""
    suffix = Path(filename).suffix.lower()
    stem = name or Path(filename).stem.replace("_", " ").replace("-", " ").strip() or "Plan"
    if not data.strip():
        raise PlanImportError("the file is empty", source=filename)
    if len(data) > MAX_BYTES:
        raise PlanImportError(f"the file is larger than {MAX_BYTES // 2**20} MB", source=filename)
    tabular = importlib.import_module("storage.importers.tabular")
    if suffix == ".xlsx":
        draft = tabular.read_xlsx(data, source=filename, name=stem)
    elif suffix == ".docx":
        draft = tabular.read_docx(data, source=filename, name=stem)
    elif suffix in (".csv", ".tsv", ".txt", ".md", ""):
        draft = _read_text(data, filename=filename, name=stem, tabular=tabular)
    else:
        raise PlanImportError(
            f"unsupported file type {suffix!r}: use .csv, .xlsx, .docx or a .txt plan",
            source=filename)
    if name:
        draft.name = name
    draft.source_file = Path(filename).name
    if not draft.all_actions():
        raise PlanImportError("no actions found in the plan", source=filename)
    return draft


def _read_text(data: bytes, *, filename: str, name: str, tabular) -> PlanDraft:
    if b"\x00" in data[:4096] and not tabular.is_utf16(data):  # UTF-16 text is full of NULs
        raise PlanImportError("this is a binary file, not a text or CSV plan", source=filename)
    text = tabular.decode_text(data)
    for layout in TEXT_LAYOUTS:
        module = _layout(layout)
        if module.detect(text):
            return module.read(text, source=filename)
    return tabular.read_csv(text, source=filename, name=name)


def read_plan_file(path: str | Path, *, name: str | None = None) -> PlanDraft:
    """Read a plan file from disk (CSV, XLSX, DOCX, or one of the known text layouts)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanImportError(f"cannot read the file: {exc.strerror}", source=str(path)) from exc
    return read_plan_bytes(data, filename=str(path), name=name)


def describe(draft: PlanDraft) -> str:
    """A human summary: counts per theme, RAG counts, unknown columns, judgement calls."""
    actions = draft.all_actions()
    by_theme = Counter(draft.theme_of(objective, action) or "(no theme)"
                       for objective, action in actions)
    rags = Counter((parse_rag(action.rag) or "none") for _, action in actions)
    lines = [
        f"Plan: {draft.name}" + (f" ({draft.organisation})" if draft.organisation else ""),
        f"Layout: {draft.layout}",
        f"Themes: {len(draft.themes)}  Objectives: {len(draft.objectives)}  "
        f"Actions: {len(actions)}",
        "Actions per theme:",
    ]
    lines += [f"  {theme}: {count}" for theme, count in by_theme.items()]
    order = ("red", "amber", "green", "blue", "none")
    lines.append("RAG: " + ", ".join(f"{str(rag).title()} {rags.get(rag, 0)}" for rag in order))
    with_due = sum(1 for _, action in actions if action.due)
    lines.append(f"Actions with a due date written: {with_due}")
    lines.append("Unknown columns: " + (", ".join(draft.unknown_columns) or "none"))
    if draft.notes:
        lines.append("Notes:")
        lines += [f"  - {note}" for note in draft.notes]
    return "\n".join(lines)
