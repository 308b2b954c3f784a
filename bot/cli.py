"""The `planbot` command line: parses arguments and runs one command from bot.cli_commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import make_url

from bot.cli_commands import (
    UserError,
    ask_cmd,
    checkin_now,
    digest_now,
    import_file,
    list_plans_cmd,
    manifest_cmd,
    open_database,
    outbox_cmd,
    schedule_cmd,
    serve,
)
from bot.cli_export import export_cmd
from bot.cli_people import admin_cmd, delete_person_cmd, link_cmd, people_cmd, unlink_cmd
from bot.config import DEFAULT_DATABASE_URL, Settings
from storage.db import async_url
from storage.importers.draft import PlanImportError

DEMO_PLAN = Path(__file__).resolve().parent.parent / "storage" / "demo" / (
    "manchester-improvement-plan-2015-rag.txt")
EXIT_BAD_INPUT = 2
log = logging.getLogger("planbot")


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


def _demo_settings(args: argparse.Namespace) -> Settings:
    """The demo's database: --db FILE, else --database-url, else the CLI's default SQLite file,
    so that `planbot ask`, `planbot plans` etc. read the demo plan with no options. Never
    DATABASE_URL from the environment (a demo must not load its plan into a real database), and
    never deleted: the demo plan is imported into it (again: the import is idempotent)."""
    if args.db:
        args.database_url = f"sqlite+aiosqlite:///{Path(args.db)}"
    elif not args.database_url:
        args.database_url = DEFAULT_DATABASE_URL
    args.local = True
    settings = _settings(args)
    try:
        configured = Settings().database_url
    except ValidationError:
        configured = settings.database_url  # reported by the commands themselves
    if async_url(configured) == async_url(settings.database_url):
        log.info("demo database: %s, the one the planbot commands read (planbot plans, "
                 "planbot ask ...)", settings.database_url)
    else:
        log.warning("the demo uses %s but the planbot commands read %s (DATABASE_URL or the "
                    "default): add --database-url %s to them to reach the demo plan",
                    settings.database_url, make_url(configured).render_as_string(
                        hide_password=True), settings.database_url)
    return settings


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
                           help="load the demo plan first (as `planbot demo`)")
    serve_cmd.add_argument("--db", help="SQLite file for --demo (default: planbot.db)")

    demo = commands.add_parser("demo", help="run the bot locally with a real demo plan loaded")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--db", help="SQLite file (default: planbot.db, the database the other "
                      "commands read by default); the demo plan is loaded or updated in it, "
                      "nothing is deleted")

    imp = commands.add_parser("import", help="import a plan file (CSV, XLSX, DOCX, text)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--plan", help="the plan to update, or the name of a new plan (default: "
                     "the plan this file is a version of, else a new plan named from the file)")
    imp.add_argument("--new", action="store_true",
                     help="make a new plan even if the file matches a stored one")
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

    ask_ = commands.add_parser("ask", help="ask the plan a question, as in Teams")
    ask_.add_argument("question")
    ask_.add_argument("--json", action="store_true", help="print the parsed query and refs")
    ask_.add_argument("--today", help="answer as of this day (YYYY-MM-DD)")
    ask_.add_argument("--plan", help="only this plan")

    admin = commands.add_parser("admin", help="plan admins: add, remove, list")
    admin.add_argument("action", choices=["add", "remove", "list"])
    admin.add_argument("key", nargs="?", help="email or AAD object id")

    pack = commands.add_parser("manifest", help="write the Teams app package (.zip)")
    pack.add_argument("--app-id", required=True, help="the bot's Microsoft App ID (GUID)")
    pack.add_argument("--domain", required=True, help="host name the bot is served from")
    pack.add_argument("--out", type=Path, default=Path("planbot.zip"))
    pack.add_argument("--name", default="planbot", help="app name shown in Teams")
    pack.add_argument("--version", default="0.1.0", help="app package version, 1.2.3")

    digest = commands.add_parser("digest", help="weekly digest to subscribed channels")
    digest.add_argument("--now", action="store_true", required=True,
                        help="post the digest now")
    digest.add_argument("--plan", help="only this plan (default: every plan)")

    outbox = commands.add_parser("outbox", help="list proactive messages and their state")
    outbox.add_argument("--status", choices=["pending", "sending", "sent", "failed"])

    people = commands.add_parser("people", help="plan leads, their Teams users and suggestions")
    people.add_argument("--plan", help="only this plan (default: every plan)")
    link = commands.add_parser("link", help="link a plan lead to a Teams user")
    link.add_argument("lead", help="the lead as written in the plan")
    link.add_argument("user", help="display name, email or AAD object id")
    unlink = commands.add_parser("unlink", help="undo a lead's link")
    unlink.add_argument("lead", help="the lead as written in the plan")
    forget = commands.add_parser("delete-person",
                                 help="erase a person's personal data (data protection)")
    forget.add_argument("user", help="display name, email or AAD object id")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    export = commands.add_parser("export", help="export a plan: json, csv, xlsx tracker, docx "
                                 "board report")
    export.add_argument("--plan", help="plan name (needed when there are several)")
    export.add_argument("--format", dest="fmt", required=True,
                        choices=["json", "csv", "xlsx", "docx"])
    export.add_argument("--as-of", dest="as_of", help="the plan as it stood that day "
                        "(YYYY-MM-DD; default today)")
    export.add_argument("--out", type=Path, help="file to write, or - for standard output "
                        "(default: a name from the plan, the format and the date, in this "
                        "folder)")

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
                                    dry_run=args.dry_run, new=args.new))
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
        elif args.command == "ask":
            asyncio.run(ask_cmd(_settings(args), args.question, today=args.today,
                                as_json=args.json, plan_name=args.plan))
        elif args.command == "admin":
            asyncio.run(admin_cmd(_settings(args), action=args.action, key=args.key))
        elif args.command == "manifest":
            manifest_cmd(_settings(args), app_id=args.app_id, domain=args.domain, out=args.out,
                         name=args.name, version=args.version)
        elif args.command == "digest":
            asyncio.run(digest_now(_settings(args), plan_name=args.plan))
        elif args.command == "outbox":
            asyncio.run(outbox_cmd(_settings(args), status=args.status))
        elif args.command == "people":
            asyncio.run(people_cmd(_settings(args), plan_name=args.plan))
        elif args.command == "link":
            asyncio.run(link_cmd(_settings(args), lead=args.lead, user=args.user))
        elif args.command == "unlink":
            asyncio.run(unlink_cmd(_settings(args), lead=args.lead))
        elif args.command == "delete-person":
            asyncio.run(delete_person_cmd(_settings(args), user=args.user, yes=args.yes))
        elif args.command == "export":
            asyncio.run(export_cmd(_settings(args), plan_name=args.plan, fmt=args.fmt,
                                   as_of=args.as_of, out_path=args.out))
        elif args.command == "plans":
            asyncio.run(list_plans_cmd(_settings(args)))
        elif args.command == "migrate":
            async def _migrate() -> None:
                engine = await open_database(_settings(args))
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
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`planbot ask ... | head`): stop quietly
        # Point stdout at /dev/null so the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + signal.SIGPIPE  # what a shell reports for a command ended by SIGPIPE
    sys.exit(code)
