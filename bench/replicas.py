"""Benchmark 3 of issue 6: two `planbot serve` replicas on one PostgreSQL, both running the
scheduler and the outbox sender, one of them SIGKILLed mid-run.

The plan's schedule is set so that this week's round, both reminders and the owner's escalation
all fall due within a few minutes of the start; the replicas' schedulers race for every job and
their senders for every card (SELECT .. FOR UPDATE SKIP LOCKED, leases). The fake Bot Connector
(bench.teams_connector, its own process) enforces Teams' limits across both replicas (each sends
at rate/2) and injects faults. One replica is killed part-way; its leased rows go to the other
once their lease expires. At the end: every job once, every card exactly once at the connector.

Run:  .venv/bin/python -m bench.replicas [--n 2000] [--rate 45] [--faults 0.02] [--kill-after 0.3]
      [--database-url postgresql://postgres@127.0.0.1:5432/test] [--lease 15]
Exit: 0 every job and card exactly once; 3 only duplicates explained by the kill (cards accepted
by the connector whose 'sent' was never committed); 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench.common import (
    conversation,
    free_port,
    insert_leads,
    machine,
    memory_kb,
    start_connector,
    start_serve,
    stop_serve,
    utcnow,
    wait_healthy,
)
from bench.fanout import drop_postgres, prepare_postgres
from storage.db import make_engine, migrate, session_factory, transaction

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
LONDON = ZoneInfo("Europe/London")
TENANT = "bench-tenant"


def slot(moment) -> str:
    local = moment.astimezone(LONDON)
    return f"{DAYS[local.weekday()]} {local:%H:%M}"


async def seed(url: str, n: int, service_url: str) -> dict[str, str]:
    """One plan with n linked leads (one action each) plus an owner; the schedule's four jobs
    fall due over the next minutes. Returns the schedule's slots."""
    from storage.models import CheckinSchedule, Plan

    now = utcnow()
    local = now.astimezone(LONDON)
    if local.weekday() == 6 and local.hour == 23 and local.minute >= 45:
        raise SystemExit("too close to the end of the ISO week: run it after Monday 00:00")
    slots = {"send_at": slot(now - timedelta(minutes=1)),
             "first_chaser_at": slot(now + timedelta(minutes=1)),
             "second_chaser_at": slot(now + timedelta(minutes=2)),
             "escalate_at": slot(now + timedelta(minutes=3))}
    engine = make_engine(url)
    try:
        await migrate(engine)
        async with transaction(session_factory(engine)) as session:
            plan = Plan(slug="bench-replicas", name="Replica benchmark plan", created_at=now,
                        updated_at=now)
            session.add(plan)
            await session.flush()
            session.add(CheckinSchedule(plan_id=plan.id, skip_bank_holidays=False,
                                        timezone="Europe/London", **slots))
            # n leads, and person n + 1 (reachable, leading nothing) owns the plan
            await insert_leads(session, plan_id=plan.id, n=n, service_url=service_url, now=now,
                               people=n + 1)
            plan.owner_person_id = n + 1
    finally:
        await engine.dispose()
    return slots


async def state(url: str) -> dict:
    """Outbox statuses and kinds, the round's job flags."""
    from storage.models import CheckinRound, Outbox
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = (await session.execute(select(Outbox.status, Outbox.kind, Outbox.attempts,
                                                 Outbox.conversation_id))).all()
            rounds = (await session.execute(select(CheckinRound))).scalars().all()
            jobs = len(rounds)
    finally:
        await engine.dispose()
    return {"statuses": Counter(r[0] for r in rows), "kinds": Counter(r[1] for r in rows),
            "attempts": sum(r[2] for r in rows), "rows": rows, "rounds": jobs,
            "round": rounds[0] if rounds else None}


async def main(args: argparse.Namespace) -> int:
    url = await prepare_postgres(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="planbot-replicas-"))
    connector = start_connector(faults=args.faults, lost_answers=0.0, seed=args.seed,
                                log=work / "connector.log")
    processes, ports, peak = [], [], 0
    try:
        slots = await seed(url, args.n, connector.url)
        expected_cards = 3 * args.n + 1
        os.environ["PLANBOT_SEND_RATE"] = str(args.rate / 2)
        started = time.monotonic()
        for number in range(2):
            port = free_port()
            ports.append(port)
            processes.append(start_serve(url=url, port=port, workdir=work,
                                         log=work / f"replica{number}.log", lease=args.lease))
        for process, port in zip(processes, ports, strict=True):
            await wait_healthy(port, process)
        killed_at = None
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            accepted = connector.get("count")["accepted"]
            for process in processes:
                if process.poll() is None:
                    peak = max(peak, memory_kb(process.pid).get("VmHWM", 0))
            if killed_at is None and accepted >= args.kill_after * expected_cards:
                os.kill(processes[0].pid, signal.SIGKILL)
                processes[0].wait()
                killed_at = accepted
            now = await state(url)
            done = now["statuses"].get("sent", 0) + now["statuses"].get("failed", 0)
            if done >= expected_cards and now["round"] is not None and now["round"].escalated:
                break
            await asyncio.sleep(1.0)
        wall = time.monotonic() - started
        final = await state(url)
        stats = connector.get("stats")
    finally:
        for process in processes:
            stop_serve(process)
        connector.stop()
        if not args.keep:
            await drop_postgres(args.database_url)
    accepted: dict[str, int] = stats["accepted"]
    want = {conversation(i): 3 for i in range(1, args.n + 1)}
    want[conversation(args.n + 1)] = 1
    lost = sum(1 for cid, count in want.items() if accepted.get(cid, 0) < count)
    duplicated = sum(max(0, accepted.get(cid, 0) - count) for cid, count in want.items())
    unexpected = sum(1 for cid in accepted if cid not in want)
    round_ = final["round"]
    jobs_ok = (final["rounds"] == 1 and round_ is not None and round_.first_chaser_done
               and round_.second_chaser_done and round_.escalated)
    kinds = dict(final["kinds"])
    counts = stats["counts"]
    print(machine("PostgreSQL"))
    print(f"command: {' '.join(sys.argv)}")
    print(f"schedule: {slots}")
    print(f"replicas: 2 x planbot serve (scheduler + sender each, {args.rate / 2:g}/s each); "
          f"replica 0 SIGKILLed after {killed_at} accepted sends; lease {args.lease:g} s")
    print(f"jobs: rounds={final['rounds']} (want 1), chaser1/chaser2/escalation done: "
          f"{jobs_ok}")
    print(f"outbox rows by kind: {kinds} (want checkin={args.n}, chaser={2 * args.n}, "
          f"escalation=1)")
    print(f"outbox statuses: {dict(final['statuses'])}; attempts {final['attempts']}")
    print(f"connector: accepted {sum(accepted.values())} (want {expected_cards}); "
          f"429 {counts.get('429', 0)}, 500 {counts.get('500', 0)}, "
          f"dropped {counts.get('dropped_before', 0)}")
    print(f"lost {lost}, duplicated {duplicated}, unexpected {unexpected}; wall {wall:.1f} s; "
          f"peak RSS of a replica {peak / 1024:.1f} MiB")
    rows_ok = kinds == {"checkin": args.n, "chaser": 2 * args.n, "escalation": 1}
    if lost or unexpected or not jobs_ok or not rows_ok:
        return 1
    return 3 if duplicated else 0


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--n", type=int, default=2000, help="leads (default 2000)")
    options.add_argument("--rate", type=float, default=45.0, help="total sends/s (split)")
    options.add_argument("--faults", type=float, default=0.02)
    options.add_argument("--seed", type=int, default=1)
    options.add_argument("--lease", type=float, default=15.0,
                         help="PLANBOT_SEND_LEASE_SECONDS for both replicas")
    options.add_argument("--kill-after", type=float, default=0.3,
                         help="kill replica 0 after this share of the cards was accepted")
    options.add_argument("--timeout", type=float, default=1200.0)
    options.add_argument("--database-url",
                         default="postgresql://postgres@127.0.0.1:5432/test")
    options.add_argument("--keep", action="store_true")
    return options


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parser().parse_args())))
