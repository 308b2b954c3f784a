"""The bodies of the `planbot` commands (bot/cli.py parses the command line)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from bot.config import Settings
from dialogs.context import system_clock

log = logging.getLogger("planbot")


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


async def plans_named(session, plan_name: str | None) -> list:
    """The plan called `plan_name`, or every plan; a UserError when there is no such plan, or
    no plan at all (a command must not answer "0" from an empty database)."""
    from sqlalchemy import select

    from storage.models import Plan
    from storage.plans import find_plan

    if plan_name:
        plan = await find_plan(session=session, name=plan_name)
        if plan is None:
            if await session.scalar(select(Plan.id).limit(1)) is None:
                raise no_plan_error(session)
            raise UserError(f"no plan called {plan_name!r}; see `planbot plans`")
        return [plan]
    plans = list((await session.execute(select(Plan).order_by(Plan.name))).scalars())
    if not plans:
        raise no_plan_error(session)
    return plans


def no_plan_error(session) -> UserError:
    """The database holds no plan: say which database, and how to get one."""
    where = session.get_bind().url.render_as_string(hide_password=True)
    return UserError(f"there is no plan in the database {where} yet: import one with "
                     "`planbot import FILE`, run `make demo` (it loads a demo plan into the "
                     "default database), or point at another database with --database-url or "
                     "DATABASE_URL")


async def open_database(settings: Settings):
    """An engine on the configured database with the schema migrated; UserError if it fails."""
    from storage.db import make_engine, migrate

    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
    except Exception as exc:
        await engine.dispose()
        raise UserError(f"cannot open the database {settings.database_url!r}: {exc}") from exc
    return engine


async def import_file(settings: Settings, path: Path, *, plan_name: str | None,
                      dry_run: bool, new: bool = False, out=None) -> None:
    """Read a plan file and store it (or only describe it, with dry_run).

    Without --plan the file updates the plan it is a new version of (storage.plans.
    matching_plans); a new plan is made only when none matches, or when asked (`new`, or
    --plan with a name no plan has). Several matching plans: a UserError asking which."""
    out = out or sys.stdout
    from storage.db import session_factory
    from storage.importers.registry import describe, read_plan_file
    from storage.plans import import_draft

    print(f"Reading {path} ...", file=out, flush=True)
    draft = read_plan_file(path, name=plan_name)
    print(describe(draft), file=out, flush=True)
    if dry_run:
        print("Dry run: nothing was saved.", file=out)
        return
    engine = await open_database(settings)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            slug, keep_name, note = await _import_target(session, draft, plan_name=plan_name,
                                                         new=new)
        count = len(draft.all_actions())
        print(f"Saving {count} actions to the database{note} ...", file=out, flush=True)
        report = await import_draft(sessions, draft=draft, now=system_clock(), slug=slug,
                                    keep_name=keep_name)
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


async def _import_target(session, draft, *, plan_name: str | None,
                         new: bool) -> tuple[str, bool, str]:
    """Which plan an import writes to: (slug, keep the stored name, a note for the user)."""
    from storage.plans import find_plan, free_plan_name, matching_plans

    if new:
        name, slug = await free_plan_name(session=session, name=draft.name)
        if plan_name and name != draft.name:
            raise UserError(f"there is a plan called {plan_name!r} already; choose another "
                            "name with --plan, or leave out --new to update it")
        draft.name = name
        return slug, False, f" as a new plan '{name}'"
    if plan_name:
        plan = await find_plan(session=session, name=plan_name)
        if plan is not None:
            return plan.slug, True, f" into the plan '{plan.name}'"
        return "", False, f" as a new plan '{draft.name}'"
    plans = await matching_plans(session=session, draft=draft)
    if len(plans) > 1:
        raise UserError(
            f"{draft.source_file or 'this file'} matches several plans: "
            + "; ".join(f"{plan.name!r} (key {plan.slug})" for plan in plans)
            + ". Say which with --plan NAME, or import it as a new plan with --new")
    if plans:
        return plans[0].slug, True, (f" into the plan '{plans[0].name}' (the same plan; "
                                     "--new makes a separate one)")
    return "", False, f" as a new plan '{draft.name}'"


async def list_plans_cmd(settings: Settings, out=None) -> None:
    """Print the plans in the database."""
    out = out or sys.stdout
    from storage.db import session_factory
    from storage.plans import list_plans

    engine = await open_database(settings)
    try:
        async with session_factory(engine)() as session:
            plans = await list_plans(session=session)
            if not plans:
                raise no_plan_error(session)
    finally:
        await engine.dispose()
    for plan, count in plans:
        print(f"{plan.slug}\t{plan.name}\t{count} actions", file=out)


async def checkin_now(settings: Settings, *, plan_name: str | None, wait: float = 120.0,
                      out=None) -> None:
    """Start this week's round now (leads who already have this week's card are skipped) and
    deliver the queued cards."""
    out = out or sys.stdout

    from dialogs.checkin import start_round
    from storage.db import session_factory, transaction
    from storage.schedule import period_of

    engine = await open_database(settings)
    sessions = session_factory(engine)
    try:
        now = system_clock()
        async with transaction(sessions) as session:
            for plan in await plans_named(session, plan_name):
                report = await start_round(session=session, plan=plan, now=now,
                                           period=period_of(now, settings.timezone),
                                           tz=settings.timezone)
                print(f"{plan.name}: {len(report.queued)} check-in cards queued"
                      f"{' (round started now)' if report.created else ''}", file=out)
                for label, names in (("not reachable (never talked to the bot)",
                                      report.unreachable), ("away, no delegate", report.away),
                                     ("away, delegated", report.delegated),
                                     ("not linked to a Teams user", report.unlinked)):
                    if names:
                        print(f"  {label}: {', '.join(names[:30])}"
                              + (f" and {len(names) - 30} more" if len(names) > 30 else ""),
                              file=out)
        await deliver_queued(settings, sessions, wait=wait, out=out)
    finally:
        await engine.dispose()


async def schedule_cmd(settings: Settings, *, plan_name: str | None, changes: dict,
                       out=None) -> None:
    """Show (and change) when each plan's round, chasers and escalation happen."""
    out = out or sys.stdout
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from bot.scheduler import schedule_for
    from storage.db import session_factory, transaction
    from storage.schedule import occurrence, parse_slot, period_of, shift_period

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
    engine = await open_database(settings)
    try:
        async with transaction(session_factory(engine)) as session:
            now = system_clock()
            for plan in await plans_named(session, plan_name):
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


async def deliver_queued(settings: Settings, sessions, *, wait: float, out) -> None:
    """Send what the outbox holds now, for up to `wait` seconds, and say how it went."""
    from bot.adapter import create_adapter
    from bot.proactive import BotDelivery
    from bot.readback import GraphReadback
    from bot.sender import Sender
    from storage.outbox import pending_count

    readback = GraphReadback(settings) if settings.graph_readback else None
    sender = Sender(sessions, BotDelivery(create_adapter(settings), settings,
                                          clock=system_clock), system_clock,
                    readback=readback, **settings.sender_options())
    deadline = asyncio.get_running_loop().time() + wait
    try:
        while True:
            sent = await sender.drain_once()
            async with sessions() as session:
                left = await pending_count(session=session)
            if left == 0 or asyncio.get_running_loop().time() > deadline:
                break
            if sent == 0:
                await asyncio.sleep(0.5)
    finally:
        if readback is not None:
            await readback.close()
    print("All queued cards delivered." if left == 0 else
          f"{left} cards are still queued (retrying); the running bot delivers them.", file=out)


async def outbox_cmd(settings: Settings, *, status: str | None, out=None) -> None:
    """Print the outbox: what was sent, what is waiting, what failed and why."""
    out = out or sys.stdout
    from storage.db import session_factory
    from storage.outbox import list_rows

    engine = await open_database(settings)
    try:
        async with session_factory(engine)() as session:
            rows = await list_rows(session=session, status=status, limit=200)
    finally:
        await engine.dispose()
    if not rows:
        print("The outbox is empty" + (f" for status {status!r}." if status else "."), file=out)
    for row in rows:
        unknown = (f"a send that began {row.posted_at:%Y-%m-%d %H:%M:%S} UTC may have arrived; "
                   if row.posted_at is not None and row.status in ("pending", "sending")
                   else "")
        print(f"{row.id}\t{row.status}\t{row.kind}\t{row.conversation_id[:40]}\t"
              f"attempts {row.attempts}\t{unknown}{row.last_error or ''}", file=out)


def check_port_free(host: str, port: int) -> None:
    """A UserError naming host:port when nothing can listen there (another planbot, say):
    checked before the database is touched."""
    import errno
    import socket

    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            # as asyncio's create_server does, so a port in TIME_WAIT is not taken for busy
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise _listen_error(host, port, exc, busy=exc.errno == errno.EADDRINUSE) from exc


def _listen_error(host: str, port: int, exc: OSError, *, busy: bool) -> UserError:
    if busy:
        return UserError(f"{host}:{port} is already in use (is planbot already running? Stop "
                         "it, or choose another port with --port or PLANBOT_PORT)")
    return UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


async def serve(settings: Settings, *, demo_plan: Path | None = None) -> None:
    """Run the bot until interrupted; a busy port is a UserError before the database is
    touched."""
    import errno

    from aiohttp import web

    from bot.app import create_app

    check_port_free(settings.host, settings.port)
    if demo_plan is not None:
        await import_file(settings, demo_plan, plan_name=None, dry_run=False)
    engine = await open_database(settings)
    app = create_app(settings, engine, background=True)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:  # taken between the check and now
        await runner.cleanup()
        await engine.dispose()
        raise _listen_error(settings.host, settings.port, exc,
                            busy=exc.errno == errno.EADDRINUSE) from exc
    log.info("planbot listening on http://%s:%s/api/messages (health: /healthz)",
             settings.host, settings.port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await engine.dispose()


async def digest_now(settings: Settings, *, plan_name: str | None, wait: float = 60.0,
                     out=None) -> None:
    """Post the weekly digest to every subscribed channel now."""
    out = out or sys.stdout
    from dialogs.digest import queue_digests
    from storage.db import session_factory, transaction

    engine = await open_database(settings)
    sessions = session_factory(engine)
    try:
        now = system_clock()
        async with transaction(sessions) as session:
            named = await plans_named(session, plan_name)  # a UserError when there is none
            plans = named if plan_name else [None]
            queued = 0
            for plan in plans:
                queued += await queue_digests(
                    session=session, now=now, tz=settings.timezone,
                    key_suffix=f"now-{now:%Y%m%dT%H%M%S}", plan_id=plan.id if plan else None)
        print(f"{queued} digest card(s) queued.", file=out)
        if queued == 0:
            print("No channel is subscribed: @mention the bot in a channel with "
                  "'subscribe this channel to the digest'.", file=out)
        await deliver_queued(settings, sessions, wait=wait, out=out)
    finally:
        await engine.dispose()


async def ask_cmd(settings: Settings, question: str, *, today: str | None, as_json: bool,
                  plan_name: str | None, out=None) -> None:
    """Answer a question from the terminal, as the bot would in Teams."""
    out = out or sys.stdout
    import json
    from datetime import date
    from zoneinfo import ZoneInfo

    from dialogs.ask.dialog import ask, title_of
    from storage.db import session_factory

    try:
        day = date.fromisoformat(today) if today else system_clock().astimezone(
            ZoneInfo(settings.timezone)).date()
    except ValueError as exc:
        raise UserError(f"--today must be a date like 2026-11-25, not {today!r}") from exc
    engine = await open_database(settings)
    try:
        async with session_factory(engine)() as session:
            await plans_named(session, plan_name)  # a clear error: unknown plan, or none
            answer = await ask(session, question, today=day, tz=settings.timezone, limit=None)
    finally:
        await engine.dispose()
    query = answer.query
    if plan_name and not query.plan:
        answer.rows = [row for row in answer.rows if row.plan.lower() == plan_name.lower()
                       or row.plan.lower().replace(" ", "-") == plan_name.lower()]
    if as_json:
        print(json.dumps({"query": query.model_dump(mode="json", exclude_defaults=True),
                          "refs": answer.refs, "counts": answer.counts}, indent=2), file=out)
        return
    if query.intent in ("help", "unknown"):
        print("I didn't understand that question." + (f" ({query.note})" if query.note else "")
              + " Try: what's red in Quality of Practice? / what's overdue? / show 2.4",
              file=out)
        return
    if query.intent == "summary":
        for theme, counts in answer.counts.items():
            print(f"{theme}: " + ", ".join(f"{'not rated' if rag == 'none' else rag} {n}"
                                           for rag, n in counts.items()), file=out)
        return
    print(f"{title_of(query)}: {len(answer.rows)}", file=out)
    for row in answer.rows:  # one line each: cells can hold line breaks ("include;\n• Clear")
        action = row.action
        print(f"  {_flat(action.ref)}\t{(action.rag or '-'):<6}\t{_flat(action.due_text):<12}\t"
              f"{_flat(' / '.join(row.leads))[:40]:<40}\t{_flat(action.text)[:70]}", file=out)


def _flat(text: str | None) -> str:
    """A cell on one line: runs of whitespace, line breaks included, as one space."""
    return " ".join((text or "").split())


def manifest_cmd(settings: Settings, *, app_id: str, domain: str, out: Path, name: str,
                 version: str, stdout=None) -> None:
    """Write the Teams app package (a .zip to upload in Teams or the Teams admin centre)."""
    stdout = stdout or sys.stdout
    from bot.manifest import ManifestError, manifest, package

    try:
        content = manifest(app_id=app_id, domain=domain, name=name, version=version,
                           developer_name=settings.developer_name or None,
                           developer_url=settings.developer_url or None,
                           privacy_url=settings.privacy_url or None,
                           terms_url=settings.terms_url or None)
    except ManifestError as exc:
        raise UserError(str(exc)) from exc
    data = package(content)
    from storage.export.files import write_atomic
    from storage.export.snapshot import ExportError
    try:
        write_atomic(out, lambda handle: handle.write(data))
    except ExportError as exc:
        raise UserError(str(exc)) from exc
    print(f"Wrote {out} ({len(data)} bytes): manifest {content['manifestVersion']}, "
          f"bot {content['bots'][0]['botId']}, domain {domain}.", file=stdout)
