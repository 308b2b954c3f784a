"""The scheduler: finds due rounds, chasers and escalations per plan and queues them; never sends.

Each job happens once per period however many replicas run: a round is unique per (plan, week),
and each follow-up is claimed with a compare-and-set on its round's flag.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.checkin import chase, claim_step, escalate, start_round
from dialogs.context import Clock
from dialogs.digest import queue_digests
from storage.models import CheckinRound, CheckinSchedule, Plan
from storage.schedule import due_jobs, period_of

log = logging.getLogger(__name__)
FLAGS = {"chaser1": "first_chaser_done", "chaser2": "second_chaser_done",
         "escalate": "escalated"}


async def schedule_for(*, session: AsyncSession, plan: Plan, timezone: str) -> CheckinSchedule:
    """The plan's schedule, created with the defaults (Monday 09:00 Europe/London) if missing."""
    statement = select(CheckinSchedule).where(CheckinSchedule.plan_id == plan.id)
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            row = CheckinSchedule(plan_id=plan.id, timezone=timezone)
            session.add(row)
    except IntegrityError:  # another replica created it at the same moment
        row = (await session.execute(statement)).scalar_one()
    return row


async def latest_round(*, session: AsyncSession, plan_id: int) -> CheckinRound | None:
    """The plan's most recent round."""
    return (await session.execute(
        select(CheckinRound).where(CheckinRound.plan_id == plan_id)
        .order_by(CheckinRound.started_at.desc(), CheckinRound.id.desc()).limit(1))
    ).scalar_one_or_none()


class Scheduler:
    """Runs every plan's due jobs; `tick` is one pass, `run` loops until stopped."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, *,
                 timezone: str = "Europe/London", interval: float = 30.0) -> None:
        self.sessions = sessions
        self.clock = clock
        self.timezone = timezone
        self.interval = interval

    async def tick(self) -> list[str]:
        """Do whatever is due now; returns a line per job done."""
        async with self.sessions() as session:
            plan_ids = list((await session.execute(select(Plan.id))).scalars())
        done: list[str] = []
        for plan_id in plan_ids:
            try:
                done += await self._plan(plan_id)
            except Exception:
                log.exception("scheduled job of plan %s failed; retried next tick", plan_id)
        try:
            done += await self._digests()
        except Exception:
            log.exception("weekly digests failed; retried next tick")
        return done

    async def _digests(self) -> list[str]:
        """Queue each subscribed channel's digest once its weekly time has come."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            queued = await queue_digests(session=session, now=now, tz=self.timezone,
                                         key_suffix=period_of(now, self.timezone),
                                         due_only=True)
        return [f"digest: {queued} card(s) queued"] if queued else []

    async def _plan(self, plan_id: int) -> list[str]:
        now = self.clock()
        done = []
        async with self.sessions() as session, session.begin():
            plan = await session.get(Plan, plan_id)
            schedule = await schedule_for(session=session, plan=plan, timezone=self.timezone)
            state = await latest_round(session=session, plan_id=plan_id)
            for job in due_jobs(schedule, now, state):
                tz = schedule.timezone
                if job.kind == "round":
                    report = await start_round(session=session, plan=plan, period=job.period,
                                               now=now, tz=tz)
                    if report.created:
                        done.append(f"{plan.slug}: round {job.period}, "
                                    f"{len(report.queued)} cards")
                    continue
                round_id = (await session.execute(select(CheckinRound.id).where(
                    CheckinRound.plan_id == plan_id, CheckinRound.period == job.period))).scalar()
                if round_id is None or not await claim_step(session=session, round_id=round_id,
                                                            flag=FLAGS[job.kind]):
                    continue
                if job.kind == "escalate":
                    if not await escalate(session=session, round_id=round_id, now=now, tz=tz):
                        done.append(f"{plan.slug}: escalate {job.period} skipped: the plan has "
                                    "no owner the bot can reach ('make me plan owner')")
                        continue
                else:
                    await chase(session=session, round_id=round_id, now=now, tz=tz,
                                number=1 if job.kind == "chaser1" else 2)
                done.append(f"{plan.slug}: {job.kind} {job.period}")
        for line in done:
            log.info("scheduler: %s", line)
        return done

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set."""
        while not stop.is_set():
            await self.tick()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                pass
