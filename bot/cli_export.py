"""`planbot export`: a plan as of a date in json, csv, xlsx (tracker) or docx (board report)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.cli_commands import UserError, open_database, plans_named, system_clock
from bot.config import Settings


async def export_cmd(settings: Settings, *, plan_name: str | None, fmt: str,
                     as_of: str | None, out_path: Path | None, out=None,
                     clock=system_clock) -> Path:
    """Write one export file (all or nothing); UserError (exit 2) for anything the user can fix."""
    out = out or sys.stdout
    from storage.db import session_factory
    from storage.export.files import write_atomic
    from storage.export.render import render
    from storage.export.snapshot import ExportError, parse_as_of

    today = datetime.astimezone(clock(), ZoneInfo(settings.timezone)).date()
    engine = await open_database(settings)
    try:
        day = parse_as_of(as_of, today=today)
        async with session_factory(engine)() as session:
            plans = await plans_named(session, plan_name)
            if len(plans) > 1:
                raise UserError("there are several plans; choose one with --plan: "
                                + "; ".join(repr(plan.name) for plan in plans))
            if not plans:
                raise UserError("there is no plan in the database yet: import one first "
                                "(planbot import FILE)")
            result = await render(session=session, plan=plans[0], fmt=fmt, as_of=day,
                                  tz=settings.timezone)
        path = out_path or Path(result.filename)
        size = write_atomic(path, lambda handle: handle.write(result.content))
    except ExportError as exc:
        raise UserError(str(exc)) from exc
    finally:
        await engine.dispose()
    print(f"Wrote {path} ({size:,} bytes): {plans[0].name}, {result.actions} actions, "
          f"as of {day.isoformat()}.", file=out)
    return path
