"""Plans in the database: save an imported PlanDraft idempotently, list and find plans."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.importers.draft import ActionDraft, ObjectiveDraft, PlanDraft
from storage.models import Action, ActionLead, Objective, Plan, StatusUpdate, Theme
from storage.rules import parse_due, parse_rag, parse_start, ref_key
from storage.updates import record_update

KINDS = ("themes", "objectives", "actions")


def slugify(name: str) -> str:
    """A URL- and command-friendly plan key: 'Tameside 2023 Plan' -> 'tameside-2023-plan'."""
    slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"['\u2019]", "", name.lower())).strip("-")
    return slug[:120] or "plan"


@dataclass
class ImportReport:
    """What one import did to the database."""

    plan: Plan
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updates_added: int = 0
    not_in_file: list[str] = field(default_factory=list)


async def _one(session: AsyncSession, statement):
    return (await session.execute(statement)).scalar_one_or_none()


def _assign(row, values: dict) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


async def _upsert(session: AsyncSession, model, keys: dict, values: dict, report, kind: str):
    """Find a row by its natural key and update it, or create it; count what happened."""
    statement = select(model).filter_by(**keys)
    row = await _one(session, statement)
    if row is None:
        row = model(**keys, **values)
        session.add(row)
        report.created[kind] += 1
    elif _assign(row, values):
        session.add(row)
        report.updated[kind] += 1
    await session.flush()
    return row


async def save_draft(
    *, session: AsyncSession, draft: PlanDraft, now: datetime, slug: str | None = None
) -> ImportReport:
    """Store a draft: re-importing the same file changes nothing and never duplicates rows."""
    slug = slug or slugify(draft.name)
    plan = await _one(session, select(Plan).where(Plan.slug == slug))
    if plan is None:
        plan = Plan(slug=slug, name=draft.name, created_at=now, updated_at=now)
    _assign(plan, {"name": draft.name, "organisation": draft.organisation, "year": draft.year,
                   "layout": draft.layout, "source_file": draft.source_file, "updated_at": now})
    session.add(plan)
    await session.flush()
    report = ImportReport(plan=plan)

    themes: dict[str | None, int | None] = {None: None}
    for position, theme in enumerate(draft.themes):
        row = await _upsert(session, Theme, {"plan_id": plan.id, "name": theme.name},
                            {"ref": theme.ref, "lead": theme.lead, "statement": theme.statement,
                             "position": position}, report, "themes")
        themes[theme.name] = row.id

    seen: set[str] = set()
    position = 0
    for objective in draft.objectives:
        objective_row = await _save_objective(session, plan, objective, themes, report)
        for action in objective.actions:
            await _save_action(session, plan, objective_row.id, themes.get(objective.theme),
                               action, position, now, report)
            seen.add(ref_key(action.ref))
            position += 1
    for theme_name, action in draft.loose_actions:
        await _save_action(session, plan, None, themes.get(theme_name), action, position, now,
                           report)
        seen.add(ref_key(action.ref))
        position += 1

    stored = await session.execute(
        select(Action.ref, Action.ref_key).where(Action.plan_id == plan.id))
    report.not_in_file = [ref for ref, key in stored.all() if key not in seen]
    return report


async def _save_objective(session, plan: Plan, objective: ObjectiveDraft, themes, report):
    values = {
        "ref": objective.ref, "theme_id": themes.get(objective.theme), "text": objective.text,
        "source": objective.source, "outcome": objective.outcome,
        "strategic_lead": objective.strategic_lead, "progress": objective.progress,
        "due_text": objective.due, "due_date": parse_due(objective.due),
        "position": objective.line or 0,
    }
    keys = {"plan_id": plan.id, "ref_key": ref_key(objective.ref)}
    return await _upsert(session, Objective, keys, values, report, "objectives")


async def _save_action(session, plan, objective_id, theme_id, action: ActionDraft, position,
                       now, report) -> Action:
    values = {
        "objective_id": objective_id, "theme_id": theme_id, "ref": action.ref,
        "ref_as_written": action.ref_as_written, "text": action.text,
        "subheading": action.subheading, "start_text": action.start,
        "start_date": parse_start(action.start), "due_text": action.due,
        "due_date": parse_due(action.due), "measures": action.measures, "cost": action.cost,
        "outcome": action.outcome, "source_line": action.line, "position": position,
    }
    row = await _upsert(session, Action, {"plan_id": plan.id, "ref_key": ref_key(action.ref)},
                        values, report, "actions")
    await _save_leads(session, row, action)
    if await _import_update_needed(session, row, action):
        await record_update(
            session=session, action=row, source="import", at=now, rag=action.rag,
            impact_rag=action.impact_rag, progress=action.progress, evidence=action.evidence,
            rating_change_as_written=action.rating_change, by_name="plan import",
        )
        report.updates_added += 1
    return row


async def _save_leads(session: AsyncSession, row: Action, action: ActionDraft) -> None:
    """Replace the action's lead cells when they changed, keeping links to people by name."""
    current = (await session.execute(
        select(ActionLead).where(ActionLead.action_id == row.id).order_by(ActionLead.position)
    )).scalars().all()
    wanted = [(lead.name, lead.role) for lead in action.leads]
    if [(lead.name, lead.role) for lead in current] == wanted:
        return
    links = {lead.name: lead.person_id for lead in current}
    for lead in current:
        await session.delete(lead)
    for position, (name, role) in enumerate(wanted):
        session.add(ActionLead(action_id=row.id, name=name, role=role, position=position,
                               person_id=links.get(name)))
    await session.flush()


async def _import_update_needed(session: AsyncSession, row: Action, action: ActionDraft) -> bool:
    """True when the file says something about status that the last import did not."""
    if not any((action.rag, action.impact_rag, action.progress, action.evidence)):
        return False
    last = await _one(session, select(StatusUpdate).where(
        StatusUpdate.action_id == row.id, StatusUpdate.source == "import"
    ).order_by(StatusUpdate.at.desc(), StatusUpdate.id.desc()).limit(1))
    if last is None:
        return True
    return (last.rag_text, last.impact_rag, last.progress, last.evidence) != (
        action.rag, _canonical(action.impact_rag), action.progress, action.evidence)


def _canonical(rag: str | None) -> str | None:
    parsed = parse_rag(rag)
    return parsed.value if parsed else None


async def list_plans(*, session: AsyncSession) -> list[tuple[Plan, int]]:
    """Every plan with its number of actions."""
    result = await session.execute(
        select(Plan, func.count(Action.id))
        .outerjoin(Action, Action.plan_id == Plan.id)
        .group_by(Plan.id)
        .order_by(Plan.name)
    )
    return [(plan, count) for plan, count in result.all()]


async def find_plan(*, session: AsyncSession, name: str | None = None) -> Plan | None:
    """A plan by slug or name (case-insensitive); the only plan when no name is given."""
    if name:
        key = slugify(name)
        return await _one(session, select(Plan).where(
            (Plan.slug == key) | (func.lower(Plan.name) == name.lower())))
    plans = (await session.execute(select(Plan).limit(2))).scalars().all()
    return plans[0] if len(plans) == 1 else None
