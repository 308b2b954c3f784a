"""Compare a PlanDraft with the independently counted ground truth in ../shared/truth/."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from storage.importers.draft import PlanDraft
from storage.rules import clean_text, parse_rag

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PLANBOT_SHARED", REPO.parent / "shared"))
PLANS = SHARED / "plans"
TRUTH = SHARED / "truth"


def truth_for(plan_file: str) -> dict:
    """The truth JSON for a plan file name (e.g. 'tameside-improvement-plan-2023.txt')."""
    return json.loads((TRUTH / plan_file.replace(".txt", ".json")).read_text(encoding="utf-8"))


def draft_rows(draft: PlanDraft) -> dict[str, dict]:
    """One comparable row per action, keyed by ref, in the truth file's conventions."""
    rows: dict[str, dict] = {}
    for objective, action in draft.all_actions():
        assert action.ref not in rows, f"action {action.ref} appears twice"
        rows[action.ref] = {
            "objective_ref": objective.ref if objective else None,
            "theme": draft.theme_of(objective, action),
            "text": clean_text(action.text)[:80],
            "leads": [lead.name for lead in action.leads],
            "due": action.due,
            "rag": action.rag,
            "impact_rag": action.impact_rag,
        }
    return rows


def truth_rows(truth: dict) -> dict[str, dict]:
    """The same rows from the truth file."""
    return {
        a["ref"]: {
            "objective_ref": a["objective_ref"],
            "theme": a["theme"],
            "text": clean_text(a["text_full"])[:80],
            "leads": a["leads"],
            "due": a["due"],
            "rag": a["rag"],
            "impact_rag": a["impact_rag"],
        }
        for a in truth["actions"]
    }


def differences(draft: PlanDraft, truth: dict, fields: tuple[str, ...]) -> list[str]:
    """Every disagreement between draft and truth on the given fields, as readable lines."""
    got, want = draft_rows(draft), truth_rows(truth)
    problems = [f"missing action {ref}" for ref in want if ref not in got]
    problems += [f"extra action {ref}" for ref in got if ref not in want]
    for ref in want.keys() & got.keys():
        for field in fields:
            if got[ref][field] != want[ref][field]:
                problems.append(
                    f"{ref}.{field}: got {got[ref][field]!r}, want {want[ref][field]!r}")
    return sorted(problems)


def rag_counts(draft: PlanDraft) -> dict[str, int]:
    """RAG over actions in the truth's counting (case ignored, 'none' for blank)."""
    counts = Counter(
        (parse_rag(action.rag).value.title() if parse_rag(action.rag) else "none")
        for _, action in draft.all_actions()
    )
    return {key: counts.get(key, 0) for key in ("Red", "Amber", "Green", "Blue", "none")}
