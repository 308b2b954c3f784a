"""What "changed", "went worse", "got better" and "went red" (or any RAG) mean: one definition,
used by chat questions (dialogs/ask/answer.py), the weekly digest (dialogs/digest.py) and the
board report (storage/export/figures.py), so that the three give the same figures.

A change over a window compares an action's RAG at the window's start with its RAG at the end:

- The RAG at the start is that of its latest status update before the start. The plan's import
  is the baseline, not a change: when the action's first update is an import made within the
  window, the RAG at the start is the imported one (the plan as it stood when it was loaded).
  A later import (a re-import of the file) that changes a RAG is a change like any other.
- It went worse when both RAGs are known and the end one is more severe (Blue < Green <
  Amber < Red); better when less severe. A first rating ever ("no RAG" -> Red) is neither.
- It went to a RAG (went red, went Blue) when it ends with that RAG and did not start with it
  (a first rating counts: "no RAG" -> Red went red; the imported baseline never does).
- It changed when it has an update within the window other than its baseline import.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, case, exists, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from storage.models import Action, StatusUpdate
from storage.rules import RAG_SEVERITY, Rag, parse_rag

# --- The rule, on two RAGs --------------------------------------------------------------------


def _severity(rag: object) -> int | None:
    parsed = parse_rag(rag)
    return RAG_SEVERITY[parsed] if parsed else None


def went_worse(before: object, after: object) -> bool:
    """Rated at both ends, and more severe at the end (Amber -> Red, Blue -> Green...)."""
    first, last = _severity(before), _severity(after)
    return first is not None and last is not None and last > first


def got_better(before: object, after: object) -> bool:
    """Rated at both ends, and less severe at the end (Red -> Amber, Green -> Blue...)."""
    first, last = _severity(before), _severity(after)
    return first is not None and last is not None and last < first


def went_to(rag: Rag | str, before: object, after: object) -> bool:
    """Ends with `rag` and did not start with it ("went red", "went Blue")."""
    target = parse_rag(rag)
    return target is not None and parse_rag(after) is target and parse_rag(before) is not target


# --- The same rule in SQL, for questions answered by one statement ------------------------------


def _severity_sql(column) -> ColumnElement:
    return case({rag.value: level for rag, level in RAG_SEVERITY.items()}, value=column)


def went_worse_sql(before, after) -> ColumnElement:
    """went_worse as a SQL condition (NULL severities compare as false, as above)."""
    return _severity_sql(after) > _severity_sql(before)


def got_better_sql(before, after) -> ColumnElement:
    """got_better as a SQL condition."""
    return _severity_sql(after) < _severity_sql(before)


def went_to_sql(ends_asked, before, after) -> ColumnElement:
    """went_to as a SQL condition, `ends_asked` saying that `after` is a RAG asked for (one or
    several: "went red or amber" is went_to either)."""
    return and_(ends_asked, or_(before.is_(None), before != after))


def is_baseline(update=StatusUpdate) -> ColumnElement:
    """An update that is its action's first and comes from the plan's import."""
    earlier = aliased(StatusUpdate)
    return and_(update.source == "import", not_(exists().where(
        earlier.action_id == update.action_id,
        or_(earlier.at < update.at, and_(earlier.at == update.at, earlier.id < update.id)))))


def rag_at_start(start) -> ColumnElement:
    """An action's RAG at the start of a window (`start` a datetime or a bind parameter), as a
    scalar subquery correlated with Action: its latest update before `start`, or its baseline
    import when that came later."""
    update = aliased(StatusUpdate)
    return (select(update.rag)
            .where(update.action_id == Action.id, or_(update.at < start, is_baseline(update)))
            .order_by(update.at.desc(), update.id.desc()).limit(1)
            .correlate(Action).scalar_subquery())


def changed_within(start) -> ColumnElement:
    """The action has an update at or after `start` that is not its baseline import."""
    return exists().where(StatusUpdate.action_id == Action.id, StatusUpdate.at >= start,
                          not_(is_baseline()))


async def rags_at_start(session: AsyncSession, plan_id: int, start: datetime
                        ) -> dict[int, str | None]:
    """Every action of a plan with its RAG at the start of a window (None: not rated then).
    One index probe per action (ix_update_action_at), not the plan's whole history."""
    at_start = rag_at_start(bindparam("start", start, type_=StatusUpdate.__table__.c.at.type))
    rows = await session.execute(select(Action.id, at_start).where(Action.plan_id == plan_id))
    return dict(rows.all())
