"""Render the board report as pages: a sample docx from the Manchester 2015 plan, then
LibreOffice (headless, no network) to PDF and pdftoppm to PNG.

    apt-get install -y libreoffice-writer-nogui poppler-utils     # once
    .venv/bin/python docs/render/board.py                         # docs/board-report-page{1,2}.png
    .venv/bin/python docs/render/board.py --pages 0 --work /tmp/board   # every page, kept

The sample: the plan imported on 1 September 2026 (its own RAGs), a month of check-in answers
before the period and during it (some actions better, some worse, two achieved, about half
confirmed in the last three weeks), two check-in rounds in the period with one lead who did not
answer and one the bot cannot reach, and the report as of 25 November 2026. soffice runs inside
`unshare -n` (a network namespace with only loopback) so that it cannot call out; pass
--no-unshare where namespaces are not allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storage.db import make_engine, migrate, session_factory  # noqa: E402
from storage.export.board import write_board_report  # noqa: E402
from storage.importers.registry import read_plan_file  # noqa: E402
from storage.models import Action, Checkin, CheckinRound  # noqa: E402
from storage.outbox import save_reference  # noqa: E402
from storage.people import link_lead, upsert_person  # noqa: E402
from storage.plans import save_draft  # noqa: E402
from storage.updates import record_update  # noqa: E402

PLAN_FILE = ROOT / "storage" / "demo" / "manchester-improvement-plan-2015-rag.txt"
LONDON = ZoneInfo("Europe/London")
AS_OF = date(2026, 11, 25)

# (ref, when (local), rag, progress, evidence, by)
STORY = [
    ("1b", (2026, 10, 14, 10), "amber", "Independent review report received by the Improvement "
     "Board on 9 October; its recommendations have been accepted and an action plan is being "
     "drafted.", None, "Geoff Little"),
    ("4a", (2026, 10, 15, 11), "green", "Caseloads in the assessment teams are now within the "
     "agreed range.", None, "Karen Dolton"),
    ("1c", (2026, 11, 12, 9), "blue", "The independent chair has been appointed and the Board's "
     "terms of reference were signed off on 11 November.", "Appointment letter and signed terms "
     "of reference (Board papers, 11 November 2026).", "Gladys Rhodes White"),
    ("26a", (2026, 11, 19, 14), "blue", "Quality assurance framework launched with all team "
     "managers.", "Framework document and launch attendance list.", "Lana Shannon"),
    ("2d", (2026, 11, 18, 16), "amber", "Recruitment to two team manager posts has slipped to "
     "January; interim cover agreed with the agency.", None, "Geoff Little"),
    ("4a", (2026, 11, 20, 12), "red", "Two social workers left in November and caseloads have "
     "risen again above the agreed range.", None, "Karen Dolton"),
    ("10h", (2026, 11, 23, 15), "amber", "Placement sufficiency report delayed by the data "
     "migration; due to the Board in January.", None, "Karen Dolton"),
    ("3a", (2026, 11, 10, 10), "amber", "Practice standards agreed and being rolled out team by "
     "team.", None, "Karen Dolton"),
]


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


async def sample(db: Path, out: Path) -> None:
    """Build the sample database and write the board report to `out`."""
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await migrate(engine)
    sessions = session_factory(engine)
    setup = datetime(2026, 9, 1, 9, tzinfo=UTC)
    async with sessions() as session, session.begin():
        report = await save_draft(session=session, now=setup, draft=read_plan_file(PLAN_FILE))
        plan = report.plan
        people = {}
        for number, name in enumerate(("Karen Dolton", "Lana Shannon", "Kerry Mehta",
                                       "Sam Owner")):
            person = await upsert_person(session=session, display_name=name,
                                         teams_user_id=f"29:user-{number}",
                                         aad_object_id=f"aad-{number}", email=None, now=setup)
            people[name] = person
            if name != "Kerry Mehta":  # Kerry never installed the bot: her card cannot go
                await save_reference(session=session, conversation_id=f"a:personal-{number}",
                                     kind="personal", service_url="https://smba.example/",
                                     reference_json="{}", now=setup, person_id=person.id)
            if name != "Sam Owner":
                await link_lead(session=session, lead=name, person=person)
        plan.owner_person_id = people["Sam Owner"].id
        actions = {a.ref: a for a in (await session.execute(
            select(Action).where(Action.plan_id == plan.id).order_by(Action.position))).scalars()}
        for ref, when, rag, progress, evidence, by in sorted(STORY, key=lambda s: s[1]):
            await record_update(session=session, action=actions[ref], source="card",
                                at=london(*when), rag=rag, progress=progress, evidence=evidence,
                                by_name=by)
        # About half the other actions confirmed at a check-in in the last three weeks.
        touched = {ref for ref, *_ in STORY}
        for index, action in enumerate(actions.values()):
            if action.ref not in touched and index % 2 == 0:
                await record_update(session=session, action=action, source="card",
                                    at=london(2026, 11, 9 + index % 14, 11), rag=action.rag,
                                    by_name="Karen Dolton")
        for period, day, answered in (("2026-W45", 2, {"Karen Dolton", "Lana Shannon"}),
                                      ("2026-W47", 16, {"Karen Dolton"})):
            round_ = CheckinRound(plan_id=plan.id, period=period,
                                  started_at=london(2026, 11, day, 9))
            session.add(round_)
            await session.flush()
            for name in ("Karen Dolton", "Lana Shannon", "Kerry Mehta"):
                status = ("answered" if name in answered else
                          "unreachable" if name == "Kerry Mehta" else "sent")
                session.add(Checkin(round_id=round_.id, person_id=people[name].id,
                                    token=f"{period}-{name}", status=status,
                                    answered_at=london(2026, 11, day + 1, 10)
                                    if status == "answered" else None))
    async with sessions() as session:
        await write_board_report(session, plan, as_of=AS_OF, out=out,
                                 generated_at=london(2026, 11, 25, 16, 30))
    await engine.dispose()


def to_pdf(docx: Path, outdir: Path, *, isolate: bool) -> Path:
    """soffice --headless --convert-to pdf, with its own profile, inside `unshare -n`."""
    profile = outdir / "lo-profile"
    command = (f"soffice -env:UserInstallation=file://{profile} --headless --norestore "
               f"--convert-to pdf --outdir '{outdir}' '{docx}'")
    if isolate:
        args = ["unshare", "-n", "--", "sh", "-c", f"ip link set lo up && {command}"]
    else:
        args = ["sh", "-c", command]
    subprocess.run(args, check=True, capture_output=True, timeout=180)
    pdf = outdir / (docx.stem + ".pdf")
    if not pdf.exists():
        raise SystemExit(f"soffice wrote no PDF for {docx}")
    return pdf


def to_png(pdf: Path, prefix: Path, *, pages: int, dpi: int) -> list[Path]:
    args = ["pdftoppm", "-png", "-r", str(dpi)]
    if pages:
        args += ["-f", "1", "-l", str(pages)]
    subprocess.run([*args, str(pdf), str(prefix)], check=True, timeout=180)
    return sorted(prefix.parent.glob(prefix.name + "-*.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="where board-report-pageN.png go (default docs/)")
    parser.add_argument("--pages", type=int, default=2, help="pages to keep (0 = all)")
    parser.add_argument("--dpi", type=int, default=110)
    parser.add_argument("--work", type=Path, help="keep the docx, pdf and pages here")
    parser.add_argument("--no-unshare", action="store_true",
                        help="run soffice without a network namespace")
    args = parser.parse_args()
    for tool in ("soffice", "pdftoppm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y libreoffice-writer-nogui "
                             "poppler-utils")
    with tempfile.TemporaryDirectory(prefix="board-render-") as temp:
        work = args.work or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        db, docx = work / "sample.db", work / "board-report.docx"
        db.unlink(missing_ok=True)
        asyncio.run(sample(db, docx))
        pdf = to_pdf(docx, work, isolate=not args.no_unshare)
        for old in work.glob("page-*.png"):
            old.unlink()
        pngs = to_png(pdf, work / "page", pages=args.pages, dpi=args.dpi)
        args.out.mkdir(parents=True, exist_ok=True)
        for old in args.out.glob("board-report-page*.png"):
            old.unlink()
        for number, png in enumerate(pngs, start=1):
            target = args.out / f"board-report-page{number}.png"
            shutil.copyfile(png, target)
            print(f"wrote {target}")  # noqa: T201
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        pages = next((line.split()[-1] for line in info.splitlines()
                      if line.startswith("Pages:")), "?")
        print(f"{docx.name}: {docx.stat().st_size} bytes, {pages} pages as PDF")  # noqa: T201


if __name__ == "__main__":
    main()
