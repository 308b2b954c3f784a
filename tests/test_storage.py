"""Saving plans: idempotent import, history-derived RAG, timezone-aware times (SQLite + PG)."""

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from storage.importers.draft import ActionDraft, LeadDraft, ObjectiveDraft, PlanDraft, ThemeDraft
from storage.models import Action, ActionLead, Objective, Person, StatusUpdate, Theme
from storage.plans import find_plan, list_plans, save_draft
from storage.updates import record_update


def small_plan(rag_3a: str = "RED", progress_3a: str = "Recruiting") -> PlanDraft:
    return PlanDraft(
        name="Test Council Improvement Plan", organisation="Test Council", layout="test",
        themes=[ThemeDraft(name="Quality of Practice"), ThemeDraft(name="Leadership")],
        objectives=[
            ObjectiveDraft(ref="3", text="Review caseloads", theme="Quality of Practice",
                           actions=[
                ActionDraft(ref="3a", ref_as_written="3a.", text="Recruit social workers",
                            leads=[LeadDraft(name="Karen Dolton", role="strategic"),
                                   LeadDraft(name="S. Rawlinson/S Jackson", role="operational")],
                            due="Feb-15", rag=rag_3a, rating_change="↔", progress=progress_3a),
                ActionDraft(ref="3b", ref_as_written="3b", text="Management oversight",
                            due="Ongoing", rag="amber"),
            ]),
            ObjectiveDraft(ref="CS18001", text="School strategy", theme=None, actions=[
                ActionDraft(ref="CS18001.A", ref_as_written="CS18001.A", text="Implement",
                            due="31 December 2018"),
            ]),
        ],
        loose_actions=[("Leadership", ActionDraft(ref="4.1", ref_as_written="4.1",
                                                  text="Lead member", start="Sep 23",
                                                  due="Nov 23"))],
    )


async def counts(session):
    result = {}
    for model in (Theme, Objective, Action, ActionLead, StatusUpdate):
        result[model.__name__] = (await session.execute(select(func.count(model.id)))).scalar()
    return result


async def test_save_then_reimport_changes_nothing(sessions, now):
    async with sessions() as session, session.begin():
        first = await save_draft(session=session, draft=small_plan(), now=now)
    assert first.created == {"themes": 2, "objectives": 2, "actions": 4}
    assert first.updates_added == 2  # 3a and 3b carry a RAG; the others say nothing of status
    async with sessions() as session:
        before = await counts(session)
    async with sessions() as session, session.begin():
        again = await save_draft(session=session, draft=small_plan(), now=now + timedelta(days=1))
    assert again.created == {"themes": 0, "objectives": 0, "actions": 0}
    assert again.updated == {"themes": 0, "objectives": 0, "actions": 0}
    assert again.updates_added == 0
    async with sessions() as session:
        assert await counts(session) == before
        plans = await list_plans(session=session)
    assert [(plan.slug, n) for plan, n in plans] == [("test-council-improvement-plan", 4)]


async def test_reimport_with_a_new_rag_appends_history(sessions, now):
    async with sessions() as session, session.begin():
        await save_draft(session=session, draft=small_plan(), now=now)
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, draft=small_plan(rag_3a="Green"),
                                  now=now + timedelta(days=7))
    assert report.updates_added == 1
    async with sessions() as session:
        action = (await session.execute(select(Action).where(Action.ref == "3a"))).scalar_one()
        history = (await session.execute(select(StatusUpdate).where(
            StatusUpdate.action_id == action.id).order_by(StatusUpdate.at))).scalars().all()
    assert [update.rag_text for update in history] == ["RED", "Green"]
    assert action.rag == "green" and action.rating_change == "up"


async def test_fields_as_written_and_parsed(sessions, now):
    async with sessions() as session, session.begin():
        await save_draft(session=session, draft=small_plan(), now=now)
    async with sessions() as session:
        rows = {a.ref: a for a in (await session.execute(select(Action))).scalars()}
        leads = (await session.execute(select(ActionLead).order_by(ActionLead.position))).scalars()
        lead_names = [(lead.name, lead.role) for lead in leads]
    assert rows["3a"].due_text == "Feb-15" and rows["3a"].due_date == date(2015, 2, 28)
    assert rows["3a"].rag == "red" and rows["3a"].rating_change == "same"  # plan's arrow
    assert rows["3b"].due_text == "Ongoing" and rows["3b"].due_date is None
    assert rows["3b"].rag == "amber"
    assert rows["4.1"].start_date == date(2023, 9, 1) and rows["4.1"].objective_id is None
    assert rows["4.1"].theme_id is not None  # actions straight under a theme
    assert rows["CS18001.A"].theme_id is None and rows["CS18001.A"].rag is None
    assert ("S. Rawlinson/S Jackson", "operational") in lead_names


async def test_current_rag_is_the_latest_update(sessions, now):
    async with sessions() as session, session.begin():
        await save_draft(session=session, draft=small_plan(), now=now)
    async with sessions() as session, session.begin():
        action = (await session.execute(select(Action).where(Action.ref == "3b"))).scalar_one()
        for days, rag in ((1, "RED"), (2, "r"), (3, "Blue")):
            await record_update(session=session, action=action, source="card", rag=rag,
                                progress=f"day {days}", at=now + timedelta(days=days),
                                evidence="audit report" if rag == "Blue" else None)
    async with sessions() as session:
        action = (await session.execute(select(Action).where(Action.ref == "3b"))).scalar_one()
        latest = (await session.execute(
            select(StatusUpdate).where(StatusUpdate.action_id == action.id)
            .order_by(StatusUpdate.at.desc()))).scalars().first()
    assert latest.rag == action.rag == "blue"
    assert action.rating_change == "up"  # red -> blue
    assert latest.at.tzinfo is not None and latest.at == now + timedelta(days=3)
    assert action.last_update_at == now + timedelta(days=3)


async def test_naive_datetimes_are_refused(sessions, now):
    async with sessions() as session:
        session.add(Person(display_name="Sarah Holt", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001
        try:
            await session.flush()
        except Exception as exc:  # StatementError wrapping ValueError
            assert "naive datetime" in str(exc)
        else:
            raise AssertionError("a naive datetime was stored")


async def test_find_plan_by_name_or_slug(sessions, now):
    async with sessions() as session, session.begin():
        await save_draft(session=session, draft=small_plan(), now=now)
    async with sessions() as session:
        assert (await find_plan(session=session, name="test council improvement plan")) is not None
        assert (await find_plan(session=session, name="Test-Council-Improvement-Plan")) is not None
        assert (await find_plan(session=session)) is not None  # the only plan
        assert (await find_plan(session=session, name="nope")) is None


def test_slugs_drop_apostrophes():
    from storage.plans import slugify

    assert slugify("Manchester Children's Services Plan 2015") == (
        "manchester-childrens-services-plan-2015")
    assert slugify("  ") == "plan"


async def test_a_savepoint_is_undone_with_its_outer_transaction(sessions, now):
    """SQLite needs SQLAlchemy to emit BEGIN itself, or the savepoint would commit for good."""
    async with sessions() as session:
        async with session.begin():
            async with session.begin_nested():
                session.add(Person(display_name="Temporary", created_at=now))
            await session.rollback()
    async with sessions() as session:
        assert (await session.execute(select(func.count(Person.id)))).scalar() == 0
