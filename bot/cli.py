"""The `planbot` command: serve, demo, import, plans, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from bot.config import Settings
from dialogs.context import system_clock
from storage.importers.draft import PlanImportError

log = logging.getLogger("planbot")
DEMO_PLAN = Path(__file__).resolve().parent.parent / "storage" / "demo" / (
    "manchester-improvement-plan-2015-rag.txt")
EXIT_BAD_INPUT = 2


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {key: value for key, value in {
        "database_url": getattr(args, "database_url", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "local": True if getattr(args, "local", False) else None,
    }.items() if value is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(error["msg"] for error in exc.errors())
        raise UserError(f"configuration problem: {problems}") from exc


async def _open_database(settings: Settings):
    from storage.db import make_engine, migrate

    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
    except Exception as exc:
        await engine.dispose()
        raise UserError(f"cannot open the database {settings.database_url!r}: {exc}") from exc
    return engine


async def import_file(settings: Settings, path: Path, *, plan_name: str | None,
                      dry_run: bool, out=None) -> None:
    """Read a plan file and store it (or only describe it, with dry_run)."""
    out = out or sys.stdout
    from storage.db import session_factory, transaction
    from storage.importers.registry import describe, read_plan_file
    from storage.plans import save_draft

    print(f"Reading {path} ...", file=out, flush=True)
    draft = read_plan_file(path, name=plan_name)
    print(describe(draft), file=out, flush=True)
    if dry_run:
        print("Dry run: nothing was saved.", file=out)
        return
    engine = await _open_database(settings)
    try:
        count = len(draft.all_actions())
        print(f"Saving {count} actions to the database ...", file=out, flush=True)
        async with transaction(session_factory(engine)) as session:
            report = await save_draft(session=session, draft=draft, now=system_clock())
    finally:
        await engine.dispose()
    created, updated = report.created, report.updated
    print(f"Saved plan '{report.plan.name}' (key: {report.plan.slug}): "
          f"{created['actions']} actions added, {updated['actions']} changed, "
          f"{count - created['actions'] - updated['actions']} unchanged; "
          f"{report.updates_added} status updates recorded.", file=out)
    if report.not_in_file:
        print(f"Kept {len(report.not_in_file)} actions that are in the database but not in this "
              f"file: {', '.join(report.not_in_file[:20])}", file=out)


async def list_plans_cmd(settings: Settings, out=None) -> None:
    """Print the plans in the database."""
    out = out or sys.stdout
    from storage.db import session_factory
    from storage.plans import list_plans

    engine = await _open_database(settings)
    try:
        async with session_factory(engine)() as session:
            plans = await list_plans(session=session)
    finally:
        await engine.dispose()
    if not plans:
        print("No plans yet. Import one with: planbot import FILE", file=out)
    for plan, count in plans:
        print(f"{plan.slug}\t{plan.name}\t{count} actions", file=out)


async def checkin_now(settings: Settings, *, plan_name: str | None, wait: float = 120.0,
                      out=None) -> None:
    """Start this week's round now (leads who already have this week's card are skipped) and
    deliver the queued cards."""
    out = out or sys.stdout
    from sqlalchemy import select

    from bot.adapter import create_adapter
    from bot.proactive import BotDelivery
    from bot.schedule import period_of
    from bot.sender import Sender
    from dialogs.checkin import start_round
    from storage.db import session_factory, transaction
    from storage.models import Plan
    from storage.outbox import pending_count
    from storage.plans import find_plan

    engine = await _open_database(settings)
    sessions = session_factory(engine)
    try:
        now = system_clock()
        async with transaction(sessions) as session:
            if plan_name:
                plan = await find_plan(session=session, name=plan_name)
                if plan is None:
                    raise UserError(f"no plan called {plan_name!r}; see `planbot plans`")
                plans = [plan]
            else:
                plans = list((await session.execute(select(Plan))).scalars())
            for plan in plans:
                report = await start_round(session=session, plan=plan, now=now,
                                           period=period_of(now, settings.timezone),
                                           tz=settings.timezone)
                print(f"{plan.name}: {len(report.queued)} check-in cards queued"
                      f"{' (round started now)' if report.created else ''}", file=out)
                for label, names in (("not reachable (never talked to the bot)",
                                      report.unreachable), ("away, no delegate", report.away),
                                     ("not linked to a Teams user", report.unlinked)):
                    if names:
                        print(f"  {label}: {', '.join(names[:30])}"
                              + (f" and {len(names) - 30} more" if len(names) > 30 else ""),
                              file=out)
        sender = Sender(sessions, BotDelivery(create_adapter(settings), settings,
                                              clock=system_clock), system_clock)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            sent = await sender.drain_once()
            async with sessions() as session:
                left = await pending_count(session=session)
            if left == 0 or asyncio.get_running_loop().time() > deadline:
                break
            if sent == 0:
                await asyncio.sleep(0.5)
        print("All queued cards delivered." if left == 0 else
              f"{left} cards are still queued (retrying); the running bot delivers them.",
              file=out)
    finally:
        await engine.dispose()


async def schedule_cmd(settings: Settings, *, plan_name: str | None, changes: dict,
                       out=None) -> None:
    """Show (and change) when each plan's round, chasers and escalation happen."""
    out = out or sys.stdout
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from sqlalchemy import select

    from bot.schedule import occurrence, parse_slot, period_of, shift_period
    from bot.scheduler import schedule_for
    from storage.db import session_factory, transaction
    from storage.models import Plan
    from storage.plans import find_plan

    for key in ("send_at", "first_chaser_at", "second_chaser_at", "escalate_at"):
        if key in changes:
            try:
                changes[key] = str(parse_slot(changes[key]))
            except ValueError as exc:
                raise UserError(str(exc)) from exc
    if "timezone" in changes:
        try:
            ZoneInfo(changes["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UserError(f"unknown time zone {changes['timezone']!r}") from exc
    engine = await _open_database(settings)
    try:
        async with transaction(session_factory(engine)) as session:
            if plan_name:
                plan = await find_plan(session=session, name=plan_name)
                if plan is None:
                    raise UserError(f"no plan called {plan_name!r}; see `planbot plans`")
                plans = [plan]
            else:
                plans = list((await session.execute(select(Plan).order_by(Plan.name))).scalars())
            now = system_clock()
            for plan in plans:
                row = await schedule_for(session=session, plan=plan, timezone=settings.timezone)
                for key, value in changes.items():
                    setattr(row, key, value)
                session.add(row)
                period = period_of(now, row.timezone)
                nxt = occurrence(parse_slot(row.send_at), period, row.timezone,
                                 skip_bank_holidays=row.skip_bank_holidays)
                if nxt <= now:
                    nxt = occurrence(parse_slot(row.send_at), shift_period(period, 1),
                                     row.timezone, skip_bank_holidays=row.skip_bank_holidays)
                local = nxt.astimezone(ZoneInfo(row.timezone))
                print(f"{plan.name}: {'on' if row.enabled else 'OFF'}; round {row.send_at}, "
                      f"chasers {row.first_chaser_at} and {row.second_chaser_at}, owner told "
                      f"{row.escalate_at} ({row.timezone}; bank holidays "
                      f"{'skipped' if row.skip_bank_holidays else 'not skipped'}); "
                      f"next round {local:%A %d %B %Y %H:%M}", file=out)
    finally:
        await engine.dispose()


async def outbox_cmd(settings: Settings, *, status: str | None, out=None) -> None:
    """Print the outbox: what was sent, what is waiting, what failed and why."""
    out = out or sys.stdout
    from storage.db import session_factory
    from storage.outbox import list_rows

    engine = await _open_database(settings)
    try:
        async with session_factory(engine)() as session:
            rows = await list_rows(session=session, status=status, limit=200)
    finally:
        await engine.dispose()
    if not rows:
        print("The outbox is empty" + (f" for status {status!r}." if status else "."), file=out)
    for row in rows:
        print(f"{row.id}\t{row.status}\t{row.kind}\t{row.conversation_id[:40]}\t"
              f"attempts {row.attempts}\t{row.last_error or ''}", file=out)


async def serve(settings: Settings, *, demo_plan: Path | None = None) -> None:
    """Run the bot until interrupted."""
    from aiohttp import web

    from bot.app import create_app

    if demo_plan is not None:
        await import_file(settings, demo_plan, plan_name=None, dry_run=False)
    engine = await _open_database(settings)
    app = create_app(settings, engine, background=True)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.info("planbot listening on http://%s:%s/api/messages (health: /healthz)",
             settings.host, settings.port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


def _demo_settings(args: argparse.Namespace) -> Settings:
    database = Path(args.db)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    args.database_url = f"sqlite+aiosqlite:///{database}"
    args.local = True
    return _settings(args)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="planbot", description=__doc__)
    parser.add_argument("--database-url", help="override DATABASE_URL")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the bot")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument("--local", action="store_true",
                           help="local mode: anonymous traffic from this machine only")
    serve_cmd.add_argument("--demo", action="store_true",
                           help="load the demo plan into a fresh SQLite file first")
    serve_cmd.add_argument("--db", default="planbot-demo.db", help="SQLite file for --demo")

    demo = commands.add_parser("demo", help="run the bot locally with a real demo plan loaded")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--db", default="planbot-demo.db", help="SQLite file (recreated)")

    imp = commands.add_parser("import", help="import a plan file (CSV, XLSX, DOCX, text)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--plan", help="plan name (default: from the file)")
    imp.add_argument("--dry-run", action="store_true", help="show what was found; save nothing")

    checkin = commands.add_parser("checkin", help="weekly check-in round")
    checkin.add_argument("--now", action="store_true", required=True,
                         help="send this week's round now")
    checkin.add_argument("--plan", help="only this plan (default: every plan)")

    schedule = commands.add_parser("schedule", help="show or change a plan's check-in schedule")
    schedule.add_argument("--plan", help="only this plan (default: every plan)")
    schedule.add_argument("--send", dest="send_at", help='round time, e.g. "MON 09:00"')
    schedule.add_argument("--first-chaser", dest="first_chaser_at", help='e.g. "WED 12:00"')
    schedule.add_argument("--second-chaser", dest="second_chaser_at", help='e.g. "THU 12:00"')
    schedule.add_argument("--escalate", dest="escalate_at", help='owner told, e.g. "FRI 09:00"')
    schedule.add_argument("--timezone", help="IANA zone, e.g. Europe/London")
    schedule.add_argument("--bank-holidays", dest="skip_bank_holidays",
                          choices=["skip", "keep"], help="skip England's bank holidays or not")
    schedule.add_argument("--enabled", choices=["on", "off"], help="turn check-ins on or off")

    outbox = commands.add_parser("outbox", help="list proactive messages and their state")
    outbox.add_argument("--status", choices=["pending", "sending", "sent", "failed"])

    commands.add_parser("plans", help="list the plans in the database")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo" or (args.command == "serve" and args.demo):
            settings = _demo_settings(args)
            logging.getLogger().setLevel(settings.log_level)
            asyncio.run(serve(settings, demo_plan=DEMO_PLAN))
        elif args.command == "serve":
            settings = _settings(args)
            logging.getLogger().setLevel(settings.log_level)
            asyncio.run(serve(settings))
        elif args.command == "import":
            asyncio.run(import_file(_settings(args), args.file, plan_name=args.plan,
                                    dry_run=args.dry_run))
        elif args.command == "checkin":
            asyncio.run(checkin_now(_settings(args), plan_name=args.plan))
        elif args.command == "schedule":
            changes = {key: getattr(args, key) for key in (
                "send_at", "first_chaser_at", "second_chaser_at", "escalate_at", "timezone")
                if getattr(args, key)}
            if args.skip_bank_holidays:
                changes["skip_bank_holidays"] = args.skip_bank_holidays == "skip"
            if args.enabled:
                changes["enabled"] = args.enabled == "on"
            asyncio.run(schedule_cmd(_settings(args), plan_name=args.plan, changes=changes))
        elif args.command == "outbox":
            asyncio.run(outbox_cmd(_settings(args), status=args.status))
        elif args.command == "plans":
            asyncio.run(list_plans_cmd(_settings(args)))
        elif args.command == "migrate":
            async def _migrate() -> None:
                engine = await _open_database(_settings(args))
                await engine.dispose()
            asyncio.run(_migrate())
            print("Database schema is up to date.")
    except (UserError, PlanImportError) as exc:
        print(f"planbot: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 0
    return 0


def main() -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    sys.exit(run())
