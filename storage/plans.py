"""Plans in the database: save an imported PlanDraft idempotently (in one transaction or in
short ones), recognise the plan a file is a new version of, list and find plans."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.importers.draft import ActionDraft, ObjectiveDraft, PlanDraft
from storage.models import Action, ActionLead, Objective, Plan, StatusUpdate, Theme
from storage.rules import parse_due, parse_rag, parse_start, ref_key
from storage.updates import record_update

KINDS = ("themes", "objectives", "actions")
SQLITE_PAUSE = 0.15  # seconds between an import's transactions on SQLite (see import_draft)


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
    *, session: AsyncSession, draft: PlanDraft, now: datetime, slug: str | None = None,
    keep_name: bool = False,
) -> ImportReport:
    """Store a draft in the caller's transaction: re-importing the same file changes nothing and
    never duplicates rows. (import_draft does the same in short transactions.)"""
    writer = DraftWriter(draft=draft, now=now, slug=slug, keep_name=keep_name)
    await writer.start(session=session)
    await writer.save_steps(session=session, limit=None)
    return await writer.finish(session=session)


async def import_draft(
    sessions: async_sessionmaker[AsyncSession], *, draft: PlanDraft, now: datetime,
    slug: str | None = None, keep_name: bool = False, hold: float = 0.5,
    pause: float | None = None,
) -> ImportReport:
    """Store a draft in short transactions of about `hold` seconds each, so that a running bot's
    writers (a check-in answer) wait for SQLite's write lock at most that long, never for the
    whole import. Between them the import waits `pause` seconds (default: 0.15 on SQLite, whose
    busy handler looks for the lock again every 0.1 s; 0 elsewhere) so a waiting writer gets in.

    Not all or nothing: if it stops half way, the actions saved so far stay, and running the
    same import again completes the plan (saving is idempotent)."""
    writer = DraftWriter(draft=draft, now=now, slug=slug, keep_name=keep_name)
    async with transaction(sessions) as session:
        if pause is None:
            pause = SQLITE_PAUSE if session.get_bind().dialect.name == "sqlite" else 0.0
        await writer.start(session=session)
    while writer.remaining:
        async with transaction(sessions) as session:
            deadline = time.monotonic() + hold
            while writer.remaining and time.monotonic() < deadline:
                await writer.save_steps(session=session, limit=1)
        if pause:
            await asyncio.sleep(pause)
    async with transaction(sessions) as session:
        return await writer.finish(session=session)


class DraftWriter:
    """Saves a draft step by step (the plan and its themes, then each objective and action in
    the file's order, then the summary), so that a caller may commit between steps."""

    def __init__(self, *, draft: PlanDraft, now: datetime, slug: str | None = None,
                 keep_name: bool = False) -> None:
        self.draft, self.now = draft, now
        self.slug = slug or slugify(draft.name)
        self.keep_name = keep_name
        self.report: ImportReport | None = None
        self._themes: dict[str | None, int | None] = {None: None}
        self._objectives: dict[int, int] = {}  # index in draft.objectives -> row id
        self._seen: set[str] = set()
        self._steps: list[tuple[int | None, str | None, ActionDraft | None]] = []
        for index, objective in enumerate(draft.objectives):
            self._steps.append((index, objective.theme, None))
            self._steps.extend((index, objective.theme, action) for action in objective.actions)
        self._steps.extend((None, theme, action) for theme, action in draft.loose_actions)
        self._next = 0
        self._position = 0

    @property
    def remaining(self) -> int:
        """Steps (objectives and actions) not saved yet."""
        return len(self._steps) - self._next

    async def start(self, *, session: AsyncSession) -> None:
        """The plan row and its themes. An existing plan's updated_at is stamped by finish(),
        so that what reads it (the question lexicon) sees a change only once it is complete."""
        draft = self.draft
        plan = await _one(session, select(Plan).where(Plan.slug == self.slug))
        if plan is None:
            plan = Plan(slug=self.slug, name=draft.name, created_at=self.now,
                        updated_at=self.now)
        values = {"organisation": draft.organisation, "year": draft.year,
                  "layout": draft.layout, "source_file": draft.source_file}
        if not self.keep_name:
            values["name"] = draft.name
        _assign(plan, values)
        session.add(plan)
        await session.flush()
        self.report = report = ImportReport(plan=plan)
        for position, theme in enumerate(draft.themes):
            row = await _upsert(session, Theme, {"plan_id": plan.id, "name": theme.name},
                                {"ref": theme.ref, "lead": theme.lead,
                                 "statement": theme.statement, "position": position},
                                report, "themes")
            self._themes[theme.name] = row.id

    async def save_steps(self, *, session: AsyncSession, limit: int | None) -> None:
        """Save the next `limit` objectives and actions (all that are left with None)."""
        assert self.report is not None, "start() first"
        plan, report = self.report.plan, self.report
        stop = len(self._steps) if limit is None else min(len(self._steps), self._next + limit)
        while self._next < stop:
            index, theme, action = self._steps[self._next]
            if action is None:
                row = await _save_objective(session, plan, self.draft.objectives[index],
                                            self._themes, report)
                self._objectives[index] = row.id
            else:
                objective_id = self._objectives[index] if index is not None else None
                await _save_action(session, plan, objective_id, self._themes.get(theme), action,
                                   self._position, self.now, report)
                self._seen.add(ref_key(action.ref))
                self._position += 1
            self._next += 1

    async def finish(self, *, session: AsyncSession) -> ImportReport:
        """Stamp the plan as updated and list the stored actions the file no longer has."""
        assert self.report is not None and not self.remaining, "save every step first"
        plan = await session.get(Plan, self.report.plan.id)
        plan.updated_at = self.now
        session.add(plan)
        await session.flush()
        self.report.plan = plan
        stored = await session.execute(
            select(Action.ref, Action.ref_key).where(Action.plan_id == plan.id))
        self.report.not_in_file = [ref for ref, key in stored.all() if key not in self._seen]
        return self.report


def _words(text: str | None) -> str:
    return " ".join((text or "").lower().split())


async def matching_plans(*, session: AsyncSession, draft: PlanDraft) -> list[Plan]:
    """The stored plans a draft is a new version of: the plan of the draft's name; else every
    plan imported from a file of the same name or read with the same layout whose actions are
    mostly the draft's (at least half the refs in common, and at least half of those with the
    same text). Empty when the draft is a plan the database does not have."""
    same_name = await _one(session, select(Plan).where(Plan.slug == slugify(draft.name)))
    if same_name is not None:
        return [same_name]
    wanted = {ref_key(action.ref): _words(action.text) for _, action in draft.all_actions()}
    plans = (await session.execute(select(Plan).where(
        (Plan.source_file == draft.source_file) | (Plan.layout == draft.layout))
        .order_by(Plan.name))).scalars().all()
    found = []
    for plan in plans:
        stored = dict((await session.execute(select(Action.ref_key, Action.text).where(
            Action.plan_id == plan.id))).all())
        common = wanted.keys() & stored.keys()
        if not common or len(common) * 2 < max(len(wanted), len(stored)):
            continue
        same_text = sum(1 for key in common if _words(stored[key]) == wanted[key])
        if same_text * 2 >= len(common):
            found.append(plan)
    return found


async def free_plan_name(*, session: AsyncSession, name: str) -> tuple[str, str]:
    """A (name, slug) no stored plan has: `name`, else "name (2)", "name (3)", ..."""
    for number in range(1, 1000):
        candidate = name if number == 1 else f"{name} ({number})"
        slug = slugify(candidate)
        taken = await _one(session, select(Plan.id).where(
            (Plan.slug == slug) | (func.lower(Plan.name) == candidate.lower())).limit(1))
        if taken is None:
            return candidate, slug
    raise ValueError(f"too many plans called {name!r}")


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
