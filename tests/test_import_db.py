"""The four real plans, imported into the database (SQLite and PostgreSQL), agree with the truth."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from storage.importers.registry import read_plan_file
from storage.models import Action, ActionLead, Objective, Plan, StatusUpdate, Theme
from storage.plans import save_draft
from storage.rules import is_overdue, parse_rag
from tests.truthcheck import PLANS, truth_for

PLAN_FILES = sorted(path.name for path in PLANS.glob("*.txt"))


async def _count(session, model, plan_id):
    return (await session.execute(
        select(func.count(model.id)).where(model.plan_id == plan_id))).scalar()


@pytest.mark.parametrize("plan_file", PLAN_FILES)
async def test_stored_counts_equal_the_truth(sessions, now, plan_file):
    truth = truth_for(plan_file)
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, draft=read_plan_file(PLANS / plan_file), now=now)
    plan_id = report.plan.id
    async with sessions() as session:
        assert await _count(session, Theme, plan_id) == truth["counts"]["themes"]
        assert await _count(session, Objective, plan_id) == truth["counts"]["objectives"]
        assert await _count(session, Action, plan_id) == truth["counts"]["actions"]
        rags = (await session.execute(select(Action.rag, func.count()).where(
            Action.plan_id == plan_id).group_by(Action.rag))).all()
    stored = {(rag or "none").title() if rag else "none": n for rag, n in rags}
    wanted = {key: n for key, n in truth["counts"]["rag"].items() if n}
    assert stored == wanted
    async with sessions() as session, session.begin():
        again = await save_draft(session=session, draft=read_plan_file(PLANS / plan_file), now=now)
    assert sum(again.created.values()) == 0 and sum(again.updated.values()) == 0
    assert again.updates_added == 0


async def _manchester(sessions, now):
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, now=now, draft=read_plan_file(
            PLANS / "manchester-improvement-plan-2015-rag.txt"))
    return report.plan


async def test_manchester_red_in_quality_of_practice_with_fill_down(sessions, now):
    plan = await _manchester(sessions, now)
    async with sessions() as session:
        refs = (await session.execute(
            select(Action.ref).join(Theme, Action.theme_id == Theme.id)
            .where(Action.plan_id == plan.id, Theme.name == "Quality of practice and capacity",
                   Action.rag == "red").order_by(Action.position))).scalars().all()
    assert refs == ["3a", "3b", "3c", "8a", "8b", "8c"]  # truth fact 11 (fill-down)


async def test_manchester_sample_fields(sessions, now):
    plan = await _manchester(sessions, now)
    async with sessions() as session:
        actions = {a.ref: a for a in (await session.execute(
            select(Action).where(Action.plan_id == plan.id))).scalars()}
        leads_10e = (await session.execute(
            select(ActionLead.name, ActionLead.role).where(
                ActionLead.action_id == actions["10e"].id).order_by(ActionLead.position))).all()
        history_1a = (await session.execute(select(StatusUpdate).where(
            StatusUpdate.action_id == actions["1a"].id))).scalars().all()
    assert actions["1d"].ref_as_written.startswith("1.d") and actions["1d"].rag == "red"
    assert actions["10e"].rag == "red" and actions["10e"].due_date is None
    assert [tuple(row) for row in leads_10e] == [
        ("D Copley", "strategic"), ("S. Rawlinson/S Jackson", "operational")]
    assert actions["10h"].due_text == "Feb-15" and actions["10h"].due_date == date(2015, 2, 28)
    assert actions["23c"].due_text == "December 2014 (phase2) Completed"
    assert actions["23c"].due_date == date(2014, 12, 31)
    assert actions["5a"].rag is None and actions["5b"].rag is None
    [update] = history_1a
    assert update.source == "import" and update.rag_text == "RED" and update.progress
    today = date(2026, 11, 25)
    overdue = [a.ref for a in actions.values()
               if is_overdue(a.due_date, parse_rag(a.rag), today)]
    assert "10h" in overdue and "1c" not in overdue  # 1c is "Completed": no due date


async def test_all_four_plans_live_side_by_side(sessions, now):
    async with sessions() as session, session.begin():
        for plan_file in PLAN_FILES:
            await save_draft(session=session, draft=read_plan_file(PLANS / plan_file), now=now)
    async with sessions() as session:
        plans = (await session.execute(select(func.count(Plan.id)))).scalar()
        actions = (await session.execute(select(func.count(Action.id)))).scalar()
    assert plans == 4 and actions == 201  # truth: 201 actions across the four plans
