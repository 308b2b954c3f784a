"""Import the four real plans and score them against ../shared/truth (counts, fields, time).

Run: .venv/bin/python -m bench.import_accuracy
"""

from __future__ import annotations

import time

from storage.importers.registry import read_plan_file
from tests.truthcheck import PLANS, draft_rows, rag_counts, truth_for, truth_rows

FIELDS = ("objective_ref", "theme", "text", "leads", "due", "rag", "impact_rag")


def _same(field: str, got, want) -> bool:
    if field == "theme" and isinstance(got, str) and isinstance(want, str):
        return got.casefold() == want.casefold()  # Tameside: title case kept, truth upper case
    return got == want


def score(plan_file: str) -> dict:
    """Counts and per-field agreement for one plan."""
    started = time.perf_counter()
    draft = read_plan_file(PLANS / plan_file)
    elapsed = time.perf_counter() - started
    truth = truth_for(plan_file)
    got, want = draft_rows(draft), truth_rows(truth)
    shared = want.keys() & got.keys()
    agree = {field: sum(_same(field, got[ref][field], want[ref][field]) for ref in shared)
             for field in FIELDS}
    return {
        "plan": plan_file, "ms": elapsed * 1000,
        "themes": (len(draft.themes), truth["counts"]["themes"]),
        "objectives": (len(draft.objectives), truth["counts"]["objectives"]),
        "actions": (len(got), len(want)), "found": len(shared),
        "rag": (rag_counts(draft), truth["counts"]["rag"]), "agree": agree, "total": len(want),
    }


def main() -> None:
    """Print one block per plan and a total."""
    total_fields = total_agree = 0
    for plan_file in sorted(p.name for p in PLANS.glob("*.txt")):
        result = score(plan_file)
        print(f"{result['plan']}  ({result['ms']:.0f} ms)")
        for key in ("themes", "objectives", "actions"):
            got, want = result[key]
            print(f"  {key:<11} {got:>4} / truth {want:<4} {'ok' if got == want else 'DIFFERENT'}")
        got, want = result["rag"]
        print(f"  RAG        {got} {'ok' if got == want else 'truth ' + str(want)}")
        cells = ", ".join(f"{f} {n}/{result['total']}" for f, n in result["agree"].items())
        print(f"  fields     {cells}")
        total_fields += len(FIELDS) * result["total"]
        total_agree += sum(result["agree"].values())
    print(f"All plans: {total_agree}/{total_fields} action fields agree with the truth "
          f"({100 * total_agree / total_fields:.1f} %)")


if __name__ == "__main__":
    main()
