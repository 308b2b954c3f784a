"""The monthly board report (docx), built from a PlanSnapshot for any "as of" date.

    data = await board_data(session, snap)            # the check-ins of the period (DB)
    board_report(snap, data, out=Path("board.docx"))  # pure: figures + document, then one write

The figures (storage/export/figures.py, analyse) follow the definitions printed in the report
itself (DEFINITIONS): the period is the month up to the as-of day, "last period" the month
before it, counts are RAG as of the end of each period, from the stored history. The document
(built with storage/export/docx_writer.py) is A4 portrait, Arial, with a title page, a RAG key,
a chart (storage/export/chart.py), a section per theme, tables whose header row repeats on every
page, RAG cells shaded in their colour with the word written in them, and page numbers. Nothing
is written until the whole document is built; a path that cannot be written leaves no file
behind (ExportError).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from storage.export.chart import ThemeBars, chart_height_in, rag_chart
from storage.export.docx_writer import (
    GREY,
    INK,
    Cell,
    Filled,
    RagCell,
    Rich,
    Writer,
    bottom_rule,
    clean,
)
from storage.export.figures import (
    RAG_KEYS,
    STALE_DAYS,
    Board,
    BoardData,
    Period,
    ThemeFigures,
    analyse,
    board_data,
    direction,
)
from storage.export.files import write_atomic
from storage.export.snapshot import (
    ActionRow,
    ExportError,
    PlanSnapshot,
    snapshot,
)
from storage.export.style import RAG_LOOK, rag_key
from storage.models import Plan
from storage.rules import long_date, short_date

RAG_MEANING = {
    "red": "Remedial action is needed to achieve the objective. The timeline, cost or "
           "objectives are at risk.",
    "amber": "There is a problem and action is being taken to resolve it, or a potential "
             "problem is being monitored closely. The timeline, cost or objectives may be at risk.",
    "green": "On target to succeed. The timeline, cost and objectives are within plan.",
    "blue": "The improvement has been achieved and evidenced (complete). A Blue action is never "
            "counted as overdue.",
    "none": "No RAG rating has been recorded for the action yet.",
}
DEFINITIONS = (
    ("This period", "The calendar month up to the as-of date: from the day after the same date "
                    "in the previous month to the as-of date, inclusive."),
    ("Last period", "The month before this period, ending on the day this period starts from."),
    ("Counts", "Each action's RAG as it stood at the end of the last day of the period, taken "
               "from its recorded history (plan import, check-in cards and chat updates), in "
               "{tz} time."),
    ("Direction of travel", "Compares the share of a theme's actions rated Red or Amber at the "
                            "end of this period with the end of last period: a smaller share is "
                            "Better, a larger share is Worse, the same share is Same. It is "
                            "Not comparable when no action in the theme had a rating at the end "
                            "of last period."),
    ("Went worse", "An action whose rating moved down between the end of last period and the "
                   "as-of date (Blue to Green, Amber or Red; Green to Amber or Red; Amber to "
                   "Red). The plan's import is the starting point, not a change: an action "
                   "imported this period is compared with its rating in the imported file "
                   "(a later re-import that changes a rating is a change). The same rule as "
                   "the weekly digest and asking planbot 'what got worse?'."),
    ("New Blue", "An action rated Blue at the as-of date that was not Blue at the end of last "
                 "period (or, imported this period, in the imported file), shown with its "
                 "latest evidence."),
    ("Overdue", "A due date before the as-of date on an action that is not Blue. Due dates are "
                "shown as written in the plan, with the date they mean (a month means its last "
                "day)."),
    ("No update for 3 weeks or more", "Not Blue, and no update in the 21 days before the "
                                      "as-of date (the same rule as asking planbot 'what "
                                      "hasn't been updated for 3 weeks?'), or never one."),
    ("Leads who did not respond", "People sent a check-in in a round started within this period "
                                  "who had not answered it by the as-of date."),
)


# --- Text helpers --------------------------------------------------------------------------------



def local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def due_text(action: ActionRow) -> str:
    """The due date as written, with the date it means when that differs from the text."""
    written = clean(action.due).strip()
    if action.due_date is None:
        return written or "Not given"
    meant = short_date(action.due_date)
    if not written or written == meant:
        return meant
    return f"{written}\n({meant})"


def leads_text(action: ActionRow) -> str:
    if not action.leads:
        return "No lead written"
    return "\n".join(clean(lead.name) + (f" ({lead.role})" if lead.role in (
        "strategic", "operational") else "") for lead in action.leads)


def rag_word(rag: str | None) -> str:
    return RAG_LOOK[rag_key(rag)][0]


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "–"


# --- The report ----------------------------------------------------------------------------------


def _progress(action: ActionRow, tz: str) -> Rich:
    """Latest progress (with its date and author), corrective action and next review."""
    paragraphs: list[list[tuple[str, bool, bool]]] = []
    latest = next((u for u in reversed(action.updates) if u.progress), None)
    if latest is not None:
        who = f", {clean(latest.by)}" if latest.by else ""
        paragraphs.append([(f"Progress ({short_date(local_day(latest.at, tz))}{who}): ", True,
                            False), (clean(latest.progress), False, False)])
    else:
        paragraphs.append([("Progress: ", True, False), ("none recorded", False, True)])
    corrective = action.corrective_action
    paragraphs.append([("Corrective action: ", True, False),
                       (clean(corrective), False, False) if corrective
                       else ("not given", False, True)])
    if action.next_review is not None:
        paragraphs.append([("Next review: ", True, False),
                           (short_date(action.next_review), False, False)])
    return Rich(paragraphs)


def _action_cell(action: ActionRow) -> Rich:
    return Rich([[(clean(action.text), False, False)]])


def _grouped(items: list, theme_of) -> list:
    """Rows with a theme sub-heading row before each theme's first row (plan order kept)."""
    rows, current = [], object()
    for item in items:
        theme = theme_of(item)
        if theme != current:
            rows.append(theme)
            current = theme
        rows.append(item)
    return rows


def _counts_header(first: str) -> list[Cell]:
    return [first, *[RagCell(key) for key in RAG_KEYS], "Total", "Red + Amber"]


def build(board: Board, *, generated_at: datetime) -> bytes:
    """The board report as .docx bytes."""
    snap, period, data = board.snap, board.period, board.data
    tz = snap.timezone
    w = Writer()
    doc = w.doc
    generated_local = generated_at.astimezone(ZoneInfo(tz))
    last_label = f"End of last period ({short_date(period.start)})"
    now_label = f"As of {short_date(period.as_of)}"
    title = f"{snap.name} – board report as of {long_date(period.as_of)}"
    doc.core_properties.title = title
    doc.core_properties.subject = "Improvement plan board report"
    doc.core_properties.author = "planbot"
    doc.core_properties.created = generated_at.astimezone(UTC).replace(tzinfo=None)
    w.footer(f"{snap.name} – board report as of {long_date(period.as_of)}")

    # Title page: plan, date, period, RAG key.
    w.para((snap.organisation or "", False), size=13, colour=GREY, after=70)
    w.para(("Improvement Board report", True), size=28, colour=INK, after=4)
    bottom_rule(w.para((snap.name, False), size=16, colour=INK, after=24))
    facts = [("Position as of", long_date(period.as_of)),
             ("Reporting period", f"{long_date(period.first_day)} to "
                                  f"{long_date(period.as_of)}"),
             ("Compared with", f"{long_date(period.last_first_day)} to "
                               f"{long_date(period.start)}")]
    if data.owner:
        facts.append(("Plan owner", data.owner))
    facts.append(("Prepared", f"{long_date(generated_local.date())} at "
                              f"{generated_local:%H:%M}, by planbot from the plan's recorded "
                              "history"))
    facts.append(("Actions in the plan", str(len(snap.actions))))
    w.table(None, [4.5, 12.5],
            [[Filled(label, "F2F2F2", "1F3864"), value] for label, value in facts], size=10)
    w.para("")
    w.heading("RAG key", 2)
    w.table(["Rating", "Meaning"], [2.6, 14.4],
            [[RagCell(key), RAG_MEANING[key]] for key in RAG_KEYS], size=9)

    # 1. Summary.
    w.heading("1. Summary", 1, new_page=True)
    now_total, last_total = board.totals("now"), board.totals("last")
    total = len(snap.actions)
    w.para(f"This report gives the position of the {total} actions of {snap.name} as recorded "
           f"at the end of {long_date(period.as_of)}, and compares it with the end of last "
           f"period ({long_date(period.start)}). Section 2 explains how each figure is worked "
           "out.")
    if not board.has_last:
        w.para(("No comparison with last period: ", True),
               f"the plan has no recorded history before the end of {long_date(period.start)} "
               "(it was imported since), so only this period's figures are shown.")

    def then(value: int) -> str:
        return str(value) if board.has_last else "–"

    responded = (f"{len(data.non_responders)} of {data.asked}" if data.rounds else "No rounds")
    w.heading("At a glance", 2)
    w.table(["Actions", *[RagCell(key) for key in RAG_KEYS], "Overdue", "Went worse",
             "New Blue", "No update 3+ weeks", "Did not respond"],
            [2.7, *[1.25] * 5, *[1.61] * 5],
            [[Filled(last_label, "F2F2F2", "1F3864"),
              *[then(last_total[key]) for key in RAG_KEYS], then(board.overdue_last), "–",
              "–", then(board.stale_last), "–"],
             [Filled(now_label, "F2F2F2", "1F3864"), *[str(now_total[key]) for key in RAG_KEYS],
              str(len(board.overdue)), str(len(board.worse)), str(len(board.new_blue)),
              str(len(board.stale)), responded]], size=8.5)
    w.heading("RAG by theme: last period and this period", 2)
    bars = [ThemeBars(theme.name, dict(theme.last) if board.has_last else None,
                      dict(theme.now)) for theme in board.themes]
    png = rag_chart(bars, last_label=f"Last period (to {short_date(period.start)})",
                    now_label=f"This period (to {short_date(period.as_of)})")
    width = 16.0  # cm; narrower when the chart would be taller than 20 cm (many themes)
    width = min(width, 20.0 * 17.0 / (chart_height_in(bars) * 2.54))
    w.picture(png, width, "Bar chart of the number of Red, Amber, Green, Blue and not rated "
              "actions in each theme at the end of last period and at the as-of date.")
    w.para(("Figure 1. ", True), "RAG counts by theme at the end of last period and at the "
           "as-of date. Each bar segment shows its count and, where it fits, its initial "
           "(R, A, G, B, N).", size=8.5, colour=GREY)

    def pair(before: int, after: int) -> str:
        return f"{before} → {after}" if board.has_last else str(after)

    def share(counts: Counter, whole: int) -> str:
        return percent(counts["red"] + counts["amber"], whole)

    rows: list[list[Cell]] = []
    for theme in board.themes:
        rows.append([theme.name, *[pair(theme.last[k], theme.now[k]) for k in RAG_KEYS],
                     str(theme.total),
                     (f"{share(theme.last, theme.total)} → " if board.has_last else "")
                     + share(theme.now, theme.total),
                     Filled(theme.direction, _DIRECTION_FILL.get(theme.direction, "FFFFFF"))])
    overall = direction(now_total, last_total, total)
    rows.append([Filled("All themes", "F2F2F2", "000000"),
                 *[Filled(pair(last_total[k], now_total[k]), "F2F2F2") for k in RAG_KEYS],
                 Filled(str(total), "F2F2F2"),
                 Filled((f"{share(last_total, total)} → " if board.has_last else "")
                        + share(now_total, total), "F2F2F2"),
                 Filled(overall, _DIRECTION_FILL.get(overall, "FFFFFF"))])
    w.heading("Counts by theme (end of last period → as of date)" if board.has_last
              else "Counts by theme (as of date)", 2)
    w.table(["Theme", *[RagCell(k, RAG_LOOK[k][0] if k != "none" else "None")
                        for k in RAG_KEYS], "Total", "Red + Amber", "Direction"],
            [4.4, 1.45, 1.45, 1.45, 1.45, 1.45, 1.2, 2.1, 2.05], rows, size=8.5)

    # 2. Definitions.
    w.heading("2. How the figures are worked out", 1)
    w.table(["Term", "Meaning"], [4.2, 12.8],
            [[Filled(term, "F2F2F2", "1F3864"), text.format(tz=tz)]
             for term, text in DEFINITIONS], size=8.5)

    # 3.. one section per theme.
    number = 3
    for theme in board.themes:
        w.heading(f"{number}. {theme.name}", 1)
        number += 1
        counts = [[Filled(label, "F2F2F2", "1F3864"), *[str(counts[k]) for k in RAG_KEYS],
                   str(theme.total), f"{counts['red'] + counts['amber']} "
                                     f"({percent(counts['red'] + counts['amber'], theme.total)})"]
                  for label, counts in ((last_label, theme.last), (now_label, theme.now))]
        w.table(_counts_header("RAG counts"), [4.3, 1.7, 1.7, 1.7, 1.7, 1.7, 1.5, 2.7], counts,
                size=9)
        w.para(("Direction of travel: ", True), (theme.direction, True),
               f" – {_direction_text(theme)}")
        w.heading(f"Red and Amber actions ({len(theme.red_amber)})", 2)
        if theme.red_amber:
            w.table(["Ref", "Action", "Lead", "Due", "RAG", "Latest progress and corrective "
                     "action"], [1.1, 4.3, 2.9, 2.1, 1.45, 5.15],
                    [[clean(a.ref), _action_cell(a), leads_text(a), due_text(a), RagCell(a.rag),
                      _progress(a, tz)] for a in theme.red_amber])
        else:
            w.none("No Red or Amber actions in this theme at the as-of date.")

    # The lists across themes.
    w.heading(f"{number}. Actions that went worse ({len(board.worse)})", 1)
    number += 1
    w.para("Rating at the end of last period compared with the rating at the as-of date.",
           colour=GREY)
    if board.worse:
        w.table(["Ref", "Action", "Lead", "Was", "Now", "Since", "Latest progress and "
                 "corrective action"], [1.1, 3.9, 2.6, 1.5, 1.5, 1.7, 4.7],
                [row if isinstance(row, str) else
                 [clean(row.action.ref), _action_cell(row.action), leads_text(row.action),
                  RagCell(row.was), RagCell(row.now), _when(row.since, tz),
                  _progress(row.action, tz)]
                 for row in _grouped(board.worse, lambda c: c.theme)])
    else:
        w.none()

    w.heading(f"{number}. New Blue actions ({len(board.new_blue)})", 1)
    number += 1
    w.para("Actions achieved and evidenced this period, with their latest evidence.", colour=GREY)
    if board.new_blue:
        w.table(["Ref", "Action", "Lead", "Was", "Blue since", "Evidence"],
                [1.1, 4.6, 2.8, 1.6, 1.8, 5.1],
                [row if isinstance(row, str) else
                 [clean(row.action.ref), _action_cell(row.action), leads_text(row.action),
                  RagCell(row.was), _when(row.since, tz), _evidence(row.action)]
                 for row in _grouped(board.new_blue, lambda c: c.theme)])
    else:
        w.none()

    w.heading(f"{number}. Overdue actions ({len(board.overdue)})", 1)
    number += 1
    w.para(f"Due before {long_date(period.as_of)} and not Blue.", colour=GREY)
    if board.overdue:
        w.table(["Ref", "Action", "Lead", "Due", "Days overdue", "RAG"],
                [1.1, 6.8, 3.2, 2.3, 1.8, 1.8],
                [row if isinstance(row, str) else
                 [clean(row[0].ref), _action_cell(row[0]), leads_text(row[0]), due_text(row[0]),
                  str((period.as_of - row[0].due_date).days), RagCell(row[0].rag)]
                 for row in _grouped(board.overdue, lambda item: item[1])])
    else:
        w.none()

    w.heading(f"{number}. No update for 3 weeks or more ({len(board.stale)})", 1)
    number += 1
    w.para(f"Not Blue, and no update since "
           f"{long_date(period.as_of - timedelta(days=STALE_DAYS))} or earlier.", colour=GREY)
    if board.stale:
        w.table(["Ref", "Action", "Lead", "RAG", "Last update", "Days since"],
                [1.1, 7.0, 3.3, 1.8, 2.2, 1.6],
                [row if isinstance(row, str) else
                 [clean(row.action.ref), _action_cell(row.action), leads_text(row.action),
                  RagCell(row.action.rag), _when(row.last, tz, never="Never"),
                  str(row.days) if row.days is not None else "–"]
                 for row in _grouped(board.stale, lambda s: s.theme)])
    else:
        w.none()

    w.heading(f"{number}. Leads who did not respond ({len(data.non_responders)})", 1)
    if data.rounds:
        rounds = ", ".join(data.rounds)
        w.para(f"Check-in rounds started this period: {rounds} ({len(data.rounds)}); "
               f"{data.asked} people were sent a check-in, "
               f"{data.asked - len(data.non_responders)} answered every one.", colour=GREY)
    if not data.rounds:
        w.none("No check-in rounds were started this period.")
    elif data.non_responders:
        w.table(["Name", "Check-ins sent", "Not answered", "Rounds not answered", "Note"],
                [4.6, 2.2, 2.2, 4.0, 4.0],
                [[clean(p.name), str(p.asked), str(p.missed), ", ".join(p.rounds),
                  (f"{p.undelivered} could not be delivered (no Teams chat with the bot)"
                   if p.undelivered else "")] for p in data.non_responders])
    else:
        w.none("Every lead sent a check-in answered it.")
    buffer = BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


_DIRECTION_FILL = {"Better": "E2EFDA", "Worse": "FCE4D6", "Same": "F2F2F2"}


def _direction_text(theme: ThemeFigures) -> str:
    before = theme.last["red"] + theme.last["amber"]
    after = theme.now["red"] + theme.now["amber"]
    if theme.direction == "No actions":
        return "the theme has no actions."
    if theme.direction == "Not comparable":
        return "no action in this theme had a rating at the end of last period."
    return (f"{after} of {theme.total} actions Red or Amber "
            f"({percent(after, theme.total)}), against {before} of {theme.total} "
            f"({percent(before, theme.total)}) at the end of last period.")


def _when(moment: datetime | None, tz: str, never: str = "Not known") -> str:
    return short_date(local_day(moment, tz)) if moment is not None else never


def _evidence(action: ActionRow) -> Rich:
    evidence = action.latest_with("evidence")
    if not evidence:
        return Rich([[("No evidence recorded", False, True)]])
    return Rich([[(clean(evidence), False, False)]])


# --- Writing -------------------------------------------------------------------------------------


def write_bytes(data: bytes, out: Path | BinaryIO) -> None:
    """Write the whole file at once; a path goes through storage.export.files.write_atomic, so a
    failure leaves no partial file (and an existing file untouched)."""
    if isinstance(out, (str, Path)):
        write_atomic(Path(out), lambda handle: handle.write(data))
    else:
        out.write(data)


def board_report(snap: PlanSnapshot, data: BoardData, *, out: Path | BinaryIO,
                 generated_at: datetime | None = None) -> Board:
    """Build the board report and write it to `out` (a path or a binary file); returns the
    figures it holds. Raises ExportError for an empty plan or a path that cannot be written."""
    board = analyse(snap, data)
    content = build(board, generated_at=generated_at or datetime.now(UTC))
    write_bytes(content, out)
    return board


async def render_docx(*, session: AsyncSession, snap: PlanSnapshot,
                      generated_at: datetime | None = None) -> bytes:
    """The board report as bytes, for storage.export.render (CLI and chat)."""
    data = await board_data(session, snap)
    return build(analyse(snap, data), generated_at=generated_at or datetime.now(UTC))


async def write_board_report(session: AsyncSession, plan: Plan, *, as_of: date,
                             out: Path | BinaryIO, tz: str = "Europe/London",
                             generated_at: datetime | None = None) -> Board:
    """Snapshot, gather the check-ins, build and write: the one call a command needs."""
    snap = await snapshot(session=session, plan=plan, as_of=as_of, tz=tz)
    data = await board_data(session, snap)
    return board_report(snap, data, out=out, generated_at=generated_at)


__all__ = ["Board", "BoardData", "ExportError", "Period", "analyse", "board_data",
           "board_report", "build", "render_docx", "write_board_report"]
