"""The JSON export: the whole plan as stored, one document (schema: plan-export.schema.json)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from storage.export.snapshot import PlanSnapshot

SCHEMA_FILE = Path(__file__).with_name("plan-export.schema.json")


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def plan_document(snap: PlanSnapshot) -> dict[str, Any]:
    """The plan as one JSON-ready document; every action once, refs as in the plan."""
    return {
        "plan": {"name": snap.name, "organisation": snap.organisation,
                 "as_of": snap.as_of.isoformat()},
        "themes": list(snap.themes),
        "objectives": [{"ref": o.ref, "theme": o.theme, "text": o.text, "source": o.source,
                        "outcome": o.outcome} for o in snap.objectives],
        "actions": [{
            "ref": a.ref, "objective_ref": a.objective_ref, "theme": a.theme, "text": a.text,
            "leads": [lead.name for lead in a.leads],
            "lead_roles": [{"name": lead.name, "role": lead.role} for lead in a.leads],
            "start": a.start, "due": a.due, "due_date": _when(a.due_date), "rag": a.rag,
            "impact_rag": a.impact_rag, "rating_change": a.rating_change,
            "measures": a.measures,
            "updates": [{"at": _when(u.at), "by": u.by, "source": u.source, "rag": u.rag,
                         "impact_rag": u.impact_rag, "progress": u.progress,
                         "evidence": u.evidence, "blockers": u.blockers,
                         "corrective_action": u.corrective_action,
                         "next_review": _when(u.next_review)} for u in a.updates],
        } for a in snap.actions],
    }


def to_json_bytes(snap: PlanSnapshot) -> bytes:
    return json.dumps(plan_document(snap), ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
