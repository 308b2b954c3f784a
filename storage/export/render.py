"""One entry point for every export format: the plan as of a date, rendered to bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from storage.export.snapshot import ExportError, snapshot
from storage.models import Plan

FORMATS = {"json": ".json", "csv": ".csv", "xlsx": ".xlsx", "docx": ".docx"}
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass
class Rendered:
    content: bytes
    filename: str
    media_type: str
    actions: int


def file_name(plan: Plan, fmt: str, as_of: date) -> str:
    kind = "board-report" if fmt == "docx" else "plan"
    return f"{plan.slug[:80]}-{kind}-{as_of.isoformat()}{FORMATS[fmt]}"


async def render(*, session: AsyncSession, plan: Plan, fmt: str, as_of: date,
                 tz: str = "Europe/London") -> Rendered:
    """The export in `fmt`; ExportError for an unknown format, a bad date or an empty plan."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    snap = await snapshot(session=session, plan=plan, as_of=as_of, tz=tz)
    if fmt == "json":
        from storage.export.json_format import to_json_bytes
        content = to_json_bytes(snap)
    elif fmt in ("csv", "xlsx"):
        from storage.export import tracker
        content = tracker.to_csv_bytes(snap) if fmt == "csv" else tracker.to_xlsx_bytes(snap)
    else:
        from storage.export import board
        content = await board.render_docx(session=session, snap=snap)
    return Rendered(content=content, filename=file_name(plan, fmt, as_of),
                    media_type=MEDIA_TYPES[fmt], actions=len(snap.actions))
