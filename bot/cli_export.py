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
                     clock=system_clock, stdout=None) -> Path | None:
    """Write one export file (all or nothing), or with `--out -` the export itself to standard
    output (bytes, any format; the summary then goes to standard error). UserError (exit 2)
    for anything the user can fix."""
    to_stdout = out_path is not None and str(out_path) == "-"
    stdout = stdout or sys.stdout
    out = out or (sys.stderr if to_stdout else sys.stdout)
    from storage.db import session_factory
    from storage.export.files import write_atomic
    from storage.export.render import render
    from storage.export.snapshot import ExportError, parse_as_of

    if to_stdout and fmt in BINARY and _is_terminal(stdout):
        raise UserError(f"{fmt} is a binary format and standard output is a terminal: "
                        f"redirect it (planbot export --format {fmt} --out - > plan.{fmt}) "
                        "or give a file name with --out")
    today = datetime.astimezone(clock(), ZoneInfo(settings.timezone)).date()
    engine = await open_database(settings)
    try:
        day = parse_as_of(as_of, today=today)
        async with session_factory(engine)() as session:
            plans = await plans_named(session, plan_name)
            if len(plans) > 1:
                raise UserError("there are several plans; choose one with --plan: "
                                + "; ".join(repr(plan.name) for plan in plans))
            result = await render(session=session, plan=plans[0], fmt=fmt, as_of=day,
                                  tz=settings.timezone)
        if to_stdout:
            path, size = None, _write_stdout(stdout, result.content)
        else:
            path = out_path or Path(result.filename)
            size = write_atomic(path, lambda handle: handle.write(result.content))
    except ExportError as exc:
        raise UserError(str(exc)) from exc
    finally:
        await engine.dispose()
    print(f"Wrote {path or 'standard output'} ({size:,} bytes): {plans[0].name}, "
          f"{result.actions} actions, as of {day.isoformat()}.", file=out)
    return path


BINARY = ("xlsx", "docx")


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _write_stdout(stream, content: bytes) -> int:
    """Write the bytes to a text stream's binary buffer (or to a binary stream) and flush."""
    target = getattr(stream, "buffer", stream)
    if target is not stream:
        stream.flush()  # any text written before goes first
    target.write(content)
    target.flush()
    return len(content)
