"""Write realistic sample cards as JSON, one file per card, for render.mjs to draw as PNG.

    python docs/render/samples.py docs/cards

Every card is built by the real card functions in cards/ from their view models, filled from the
real plans (no database): the Manchester 2015 plan shipped in storage/demo/, and the other three
real plans in ../shared/plans/ when that folder is there. The views are filled the way dialogs/
fills them (dialogs/checkin.py card_view and escalate, dialogs/checkin_submit.py _rejected and
recorded_view, dialogs/commands.py unlinked, dialogs/help.py help_view), so the pictures show
what a Teams user would get.

The scene: Karen Dolton (Strategic Director, Manchester) gets her check-in on Monday 2 February
2015; she picks Blue for 23b without evidence (the card comes back with the error), then sends it
properly (the recorded card). The plan owner later gets who has not answered; an admin asks who
is unlinked. One deliberate shortcut: her card shows 4 of her 39 open actions (a real card shows
up to 15) so the picture stays short; `not_shown` is set to the other 35 so that line shows too.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from cards.checkin import (  # noqa: E402
    CheckinActionView,
    CheckinView,
    MissingView,
    RecordedActionView,
    RecordedView,
    card_kb,
    checkin_card,
    missing_card,
    recorded_card,
)
from cards.help import HelpView, PlanLine, help_card  # noqa: E402
from cards.links import LinkSuggestionView, link_suggestions_card  # noqa: E402
from dialogs.checkin_payload import CheckinSubmit, SubmitInvalid  # noqa: E402
from storage.importers.draft import ActionDraft, PlanDraft  # noqa: E402
from storage.importers.registry import read_plan_file  # noqa: E402
from storage.leads import lead_people, normalise, suggest  # noqa: E402
from storage.rules import is_overdue, parse_due, parse_rag  # noqa: E402

MANCHESTER = REPO / "storage" / "demo" / "manchester-improvement-plan-2015-rag.txt"
SHARED_PLANS = REPO.parent / "shared" / "plans"
# The four real plans as the importers read them (name, organisation, actions), used only when
# ../shared/plans/ is not mounted.
KNOWN_PLANS = [
    ("Manchester Children's Services Improvement Plan 2015", "Manchester City Council", 93),
    ("Rochdale Children's Services Council Plan 2018-19",
     "Rochdale Metropolitan Borough Council", 62),
    ("Rochdale Improvement Notice 2014", "Rochdale Metropolitan Borough Council", 15),
    ("Tameside Children's Social Care Improvement Plan", "Tameside Council", 31),
]

TODAY = date(2015, 2, 2)  # a Monday: the round starts at 09:00
PERIOD = f"week of {TODAY.day} {TODAY:%B %Y}"  # as dialogs.checkin.period_label writes it
IMPORTED = date(2015, 1, 19)  # when the plan was imported: its progress column is the last note
LEAD = "Karen Dolton"
REFS = ("3a", "4a", "5b", "23b")  # red and overdue, amber, no RAG and no note, green
TOKEN = "q7Vd2KxN0bLmR4sT9wYc3A"  # secrets.token_urlsafe(16) shape
USER_MRI = "29:1Kx0sampleMRIforKarenDoltonQw3"

# A Teams roster for the link suggestions: directory spellings as Teams shows them. Exact names
# are auto-linked by planbot and so never reach the card; the rest are suggestions or unmatched.
ROSTER = [
    (1, "Karen Dolton", "karen.dolton@manchester.gov.uk", ""),
    (2, "Gladys Rhodes White", "gladys.rhodeswhite@manchester.gov.uk", ""),
    (3, "Kerry Mehta", "kerry.mehta@manchester.gov.uk", ""),
    (4, "Lana Shannon", "lana.shannon@manchester.gov.uk", ""),
    (5, "Geoff Little", "geoff.little@manchester.gov.uk", ""),
    (6, "Jane Johnson", "jane.johnson@manchester.gov.uk", ""),
    (7, "Ian Williamson", "ian.williamson@manchester.gov.uk", ""),
    (8, "Anna Berry", "anna.berry@manchester.gov.uk", ""),
    (9, "Heather Johns", "heather.johns@manchester.gov.uk", ""),
    (10, "Janice Schofield", "janice.schofield@manchester.gov.uk", ""),
    (11, "Copley, Diane", "diane.copley@manchester.gov.uk", ""),
    (12, "Steve Rawlinson (GMP)", "steve.rawlinson@gmp.police.uk", ""),
    (13, "Sarah Jackson", "sarah.jackson@manchester.gov.uk", ""),
    (14, "Simon Jackson", "simon.jackson@manchester.gov.uk", ""),
    (15, "John Edwards", "john.edwards@manchester.gov.uk", ""),
    (16, "Julie Heslop", "julie.heslop@manchester.gov.uk", ""),
    (17, "Kathy Weaver", "kathy.weaver@manchester.gov.uk", ""),
]


def _plans() -> list[PlanLine]:
    """The four real plans, ordered by name as storage.plans.list_plans orders them."""
    files = sorted(SHARED_PLANS.glob("*.txt")) if SHARED_PLANS.is_dir() else []
    if files:
        drafts = [read_plan_file(path) for path in files]
        found = [(d.name, d.organisation, len(d.all_actions())) for d in drafts]
    else:
        sys.stderr.write(f"note: {SHARED_PLANS} not found; using the plan names recorded in "
                         "samples.py\n")
        found = KNOWN_PLANS
    return [PlanLine(name=name, organisation=org, actions=count)
            for name, org, count in sorted(found)]


def _manchester() -> tuple[PlanDraft, list[tuple[int, str | None, ActionDraft]]]:
    """The plan and its actions as (id, theme, action); ids are 1-based plan positions."""
    draft = read_plan_file(MANCHESTER)
    rows = [(number, draft.theme_of(objective, action), action)
            for number, (objective, action) in enumerate(draft.all_actions(), start=1)]
    return draft, rows


def _rag(value: str | None) -> str | None:
    rag = parse_rag(value)
    return rag.value if rag else None


def _lead_actions(rows, lead: str) -> list[tuple[int, str | None, ActionDraft]]:
    return [row for row in rows if any(lead in lead_people(cell.name) for cell in row[2].leads)]


def _action_view(action_id: int, theme: str | None, action: ActionDraft) -> CheckinActionView:
    """As dialogs.checkin.action_views: the imported progress is the last note, dated on import."""
    due = parse_due(action.due)
    rag = _rag(action.rag)
    return CheckinActionView(
        action_id=action_id, ref=action.ref, title=action.text, theme=theme,
        due_text=action.due, due_date=due, overdue=is_overdue(due, parse_rag(action.rag), TODAY),
        last_rag=rag, last_progress=action.progress,
        last_update_at=IMPORTED if (rag or action.progress) else None)


def checkin_views(draft: PlanDraft, rows) -> tuple[CheckinView, list[CheckinActionView]]:
    mine = _lead_actions(rows, LEAD)
    picked = [row for row in mine if row[2].ref in REFS]
    actions = [_action_view(*row) for row in picked]
    view = CheckinView(token=TOKEN, lead_name=LEAD, plan_name=draft.name, period_label=PERIOD,
                       actions=actions, user_mri=USER_MRI, not_shown=len(mine) - len(picked))
    return view, actions


def _submitted(actions: list[CheckinActionView], answers: dict[str, dict[str, str]]) -> dict:
    """Card data as Teams sends it: every input's value (empty when untouched) plus the data."""
    data: dict[str, str] = {"verb": "checkin.submit", "token": TOKEN}
    for action in actions:
        given = answers.get(action.ref, {})
        for field in ("rag", "progress", "evidence", "blockers"):
            default = (action.last_rag or "") if field == "rag" else ""
            data[f"{field}_{action.action_id}"] = given.get(field, default)
        data[f"nochange_{action.action_id}"] = given.get("nochange", "false")
    return data


FIRST_TRY = {
    "3a": {"rag": "red", "progress": "Agency team extended to 31 March. 212 of the 1,200 CIN "
                                     "cases closed since the last update; 988 still open.",
           "blockers": "Two agency social workers leave on 13 February: need approval to extend "
                       "them."},
    "4a": {"nochange": "true"},
    "5b": {"rag": "amber", "progress": "Managers' oversight checklist drafted; first "
                                       "performance clinics booked for 9 February."},
    "23b": {"rag": "blue", "progress": "Health and GMP posts in the MASH are filled; demand "
                                       "met for three weeks running."},
}
SECOND_TRY = {**FIRST_TRY, "23b": {
    **FIRST_TRY["23b"],
    "evidence": "MASH staffing report to the Improvement Board, 28 Jan 2015 (Improvement Plan "
                "site > Evidence > 23b)"}}


def rejected_view(view: CheckinView) -> CheckinView:
    """As dialogs.checkin_submit._rejected: the payload's real error, the answers re-filled."""
    data = _submitted(view.actions, FIRST_TRY)
    try:
        CheckinSubmit.from_card_data(data)
    except SubmitInvalid as error:
        refs = {action.action_id: action.ref for action in view.actions}
        return view.model_copy(update={
            "banner": f"Nothing was saved yet: {error}", "not_shown": 0,
            "errors": {key: f"{refs.get(key, '')}: {message}".lstrip(": ")
                       for key, message in error.errors.items() if key is not None},
            "values": {key: value for key, value in data.items() if isinstance(value, str)}})
    raise SystemExit("samples.py: the first try was expected to be refused (Blue, no evidence)")


def recorded_view(view: CheckinView) -> RecordedView:
    """As dialogs.checkin_submit.recorded_view after the second, valid, send."""
    submit = CheckinSubmit.from_card_data(_submitted(view.actions, SECOND_TRY))
    answers = {answer.action_id: answer for answer in submit.answers}
    items = []
    for action in view.actions:
        answer = answers[action.action_id]
        stored = not answer.no_change and bool(
            answer.progress or answer.evidence or answer.blockers
            or (answer.rag and answer.rag != action.last_rag))  # dialogs.checkin_submit._changed
        items.append(RecordedActionView(
            ref=action.ref, title=action.title,
            rag=(answer.rag or action.last_rag) if stored else action.last_rag,
            no_change=not stored, progress=answer.progress if stored else None,
            evidence=answer.evidence if stored else None,
            blockers=answer.blockers if stored else None))
    when = datetime(2015, 2, 2, 10, 14, tzinfo=ZoneInfo("Europe/London"))
    return RecordedView(lead_name=LEAD, plan_name=view.plan_name, period_label=PERIOD,
                        recorded_at_label=f"{when.day} {when:%B %Y at %H:%M}", actions=items,
                        by_name=LEAD)


def missing_view(draft: PlanDraft, rows) -> MissingView:
    """As dialogs.checkin.escalate: each lead who has not answered, with their open actions
    (not Blue); the chasers went on Wednesday and Thursday (the default schedule)."""
    names = {normalise(name): name for _, name, _, _ in ROSTER}
    counts = Counter(names[normalise(person)] for _, _, action in rows
                     if _rag(action.rag) != "blue"
                     for cell in action.leads for person in lead_people(cell.name)
                     if normalise(person) in names)
    answered = {LEAD, "Geoff Little", "Ian Williamson", "Heather Johns", "Anna Berry",
                "Janice Schofield", "Julie Heslop"}
    missing = [(name, count) for name, count in counts.items() if name not in answered]
    return MissingView(plan_name=draft.name, period_label=PERIOD, missing=missing,
                       answered=len(answered & set(counts)), total=len(counts),
                       reminder_days=["Wednesday", "Thursday"])


def link_view(rows) -> LinkSuggestionView:
    """As storage.people.lead_report + dialogs.commands.unlinked, after auto_link ran: a lead
    several Teams users match equally goes to `ambiguous` with their names; `counts` is each
    lead's number of actions."""
    spellings: dict[str, Counter[str]] = {}
    for _, _, action in rows:
        for cell in action.leads:
            for name in lead_people(cell.name):
                spellings.setdefault(normalise(name), Counter())[name] += 1
    names = {person_id: name for person_id, name, _, _ in ROSTER}
    suggested, unmatched, ambiguous, actions = [], [], [], {}
    for counts in spellings.values():
        lead = counts.most_common(1)[0][0]
        hint = suggest(lead, ROSTER)
        if hint is None:
            unmatched.append(lead)
        elif hint.ambiguous:
            ambiguous.append((lead, [names[person_id] for person_id in hint.matches]))
        elif not hint.auto_linkable:
            suggested.append((lead, hint.display_name, hint.confidence))
        else:
            continue
        actions[lead] = sum(counts.values())
    return LinkSuggestionView(items=suggested, unmatched=unmatched, ambiguous=ambiguous,
                              counts=actions)


def build() -> dict[str, dict]:
    draft, rows = _manchester()
    view, _ = checkin_views(draft, rows)
    reminder = view.model_copy(update={
        "banner": "Reminder: your weekly check-in is still waiting for an answer.",
        "not_shown": 0})  # dialogs.checkin.chase, first chaser
    return {
        "help": help_card(HelpView(plans=_plans(), is_channel=True,
                                   example_ref=view.actions[0].ref)),
        "checkin": checkin_card(view),
        "checkin-reminder": checkin_card(reminder),
        "checkin-error": checkin_card(rejected_view(view)),
        "recorded": recorded_card(recorded_view(view)),
        "missing": missing_card(missing_view(draft, rows)),
        "link-suggestions": link_suggestions_card(link_view(rows)),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: python docs/render/samples.py OUTDIR\n")
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, content in build().items():
        path = out / f"{name}.json"
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        sys.stdout.write(f"{path}  ({card_kb(content):.1f} KB as Teams counts it)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
