"""Rochdale 2018 council plan and 2014 Improvement Notice readers against the ground truth."""

from __future__ import annotations

from collections import Counter

import pytest

from storage.importers import rochdale2014, rochdale2018, tameside
from storage.importers.draft import PlanDraft, PlanImportError
from storage.rules import clean_text
from tests.truthcheck import PLANS, differences, rag_counts, truth_for

FILE_2018 = "rochdale-council-plan-2018-actions.txt"
FILE_2014 = "rochdale-improvement-notice-2014.txt"
TEXT_2018 = (PLANS / FILE_2018).read_text(encoding="utf-8")
TEXT_2014 = (PLANS / FILE_2014).read_text(encoding="utf-8")
# No theme case issue here (2018 has no themes, 2014 keeps names as written), so theme is exact.
FIELDS = ("objective_ref", "theme", "text", "leads", "due", "rag", "impact_rag")
CSV = (
    "Plan,Rochdale Improvement Notice\n"
    "Ref,Name,Due,Status\n"
    "CS18001.A,Implementation of Schools Strategy,31 December 2018,■\n"
    "1.1.,Ensure that all the corporate functions provide support,,\n"
)
READERS = {FILE_2018: rochdale2018, FILE_2014: rochdale2014}


@pytest.fixture(scope="module", params=[FILE_2018, FILE_2014])
def plan(request) -> tuple[str, PlanDraft]:
    text = (PLANS / request.param).read_text(encoding="utf-8")
    return request.param, READERS[request.param].read(text, source=request.param)


@pytest.fixture(scope="module")
def actions_2018() -> dict:
    return {a.ref: a for _, a in rochdale2018.read(TEXT_2018).all_actions()}


@pytest.fixture(scope="module")
def draft_2014() -> PlanDraft:
    return rochdale2014.read(TEXT_2014, source=FILE_2014)


# --- Both plans: identity, counts, truth ------------------------------------------------------

IDENTITY = {
    FILE_2018: ("Rochdale Children's Services Council Plan 2018-19", 2018, "rochdale-2018"),
    FILE_2014: ("Rochdale Improvement Notice 2014", 2014, "rochdale-notice-2014"),
}


def test_plan_identity(plan) -> None:
    name, draft = plan
    assert (draft.name, draft.year, draft.layout) == IDENTITY[name]
    assert draft.organisation == "Rochdale Metropolitan Borough Council"
    assert draft.source_file == name


def test_counts(plan) -> None:
    name, draft = plan
    counts = truth_for(name)["counts"]
    pairs = draft.all_actions()
    assert len(draft.themes) == counts["themes"]
    assert len(draft.objectives) == counts["objectives"]
    assert len(pairs) == counts["actions"]
    assert Counter(o.ref for o, _ in pairs) == counts["actions_by_objective"]
    by_theme = Counter(draft.theme_of(o, a) or "(no theme)" for o, a in pairs)
    assert by_theme == counts["actions_by_theme"]
    assert rag_counts(draft) == counts["rag"]


@pytest.mark.parametrize(("name", "sizes"), [(FILE_2018, (0, 13, 62)), (FILE_2014, (5, 15, 15))])
def test_exact_sizes(name: str, sizes: tuple[int, int, int]) -> None:
    draft = READERS[name].read((PLANS / name).read_text(encoding="utf-8"))
    assert (len(draft.themes), len(draft.objectives), len(draft.all_actions())) == sizes


def test_matches_truth(plan) -> None:
    name, draft = plan
    assert differences(draft, truth_for(name), FIELDS) == []


def test_actions_match_truth_in_full(plan) -> None:
    name, draft = plan
    truth = {a["ref"]: a for a in truth_for(name)["actions"]}
    for _, action in draft.all_actions():
        want = truth[action.ref]
        assert (action.ref_as_written, action.line) == (want["ref_as_written"], want["line"])
        assert clean_text(action.text) == clean_text(want["text_full"])
        assert action.leads == [] and action.rag is None and action.impact_rag is None


def test_objectives_match_truth(plan) -> None:
    name, draft = plan
    got = [(o.ref, o.text, o.theme, o.due, o.line) for o in draft.objectives]
    want = [
        (o["ref"], o["text_full"], o["theme"], o["due"], o["line"])
        for o in truth_for(name)["objectives"]
    ]
    assert got == want


@pytest.mark.parametrize(
    ("module", "expected"),
    [(rochdale2018, FILE_2018), (rochdale2014, FILE_2014), (tameside, "tameside")],
)
def test_detect_matrix(module, expected: str) -> None:
    for path in sorted(PLANS.glob("*.txt")):
        assert module.detect(path.read_text(encoding="utf-8")) == path.name.startswith(expected)
    assert module.detect(CSV) is False
    assert module.detect("") is False


# --- Rochdale 2018: hand-checked facts and judgement calls ----------------------------------

MAR19, DEC18 = "31 March 2019", "31 December 2018"
FACTS_2018 = [  # ref, line, ref as written, due (texts in TEXTS_2018)
    ("CS18009.A", 134, "CS18008.A", DEC18),
    ("CS18008.A", 119, "CS18008.A", DEC18),
    ("CS18002.C", 29, "CS18002.C", "30 September 2018"),
    ("CS18006.B", 83, "CS18006.B", DEC18),
    ("CS18006.D", 88, "CS18006.D", MAR19),
    ("CS18001.B", 14, "CS18001.B", "30 December 2018"),
    ("CS18003.A", 43, "CS18003.A", "31 March 2018"),
    ("CS18011.D", 171, "CS18011.D", "31 October 2018"),
    ("CS18013.A", 191, "CS18013.A", MAR19),
    ("CS18013.B", 192, "CS18013.B", MAR19),
    ("CS18013.C", 193, "CS18013.C", MAR19),
    ("CS18006.A", 82, "CS18006.A", MAR19),
    ("CS18009.C", 136, "CS18009.C", "31 August 2018"),
]
TEXTS_2018 = {
    "CS18009.A": "Develop and implement shared service with Bury",
    "CS18002.C": "Effective management and maintenance of assets and delivery of improvement "
    "and expansion projects.",
    "CS18006.B": "Increase ASC School provision within Rochdale through development of "
    "resource provision and skills set",
    "CS18006.D": "Reduction in School exclusion of SEND children see NDP7",
    "CS18011.D": "Revise training and development programme to support NAAS and Rochdale "
    "local offer",
    "CS18006.A": "Progress the second phase of the SEND action plan –",  # cut short, as written
    "CS18009.C": "Sign up for shared service proposal secured across both localities and",
}


@pytest.mark.parametrize(("ref", "line", "written", "due"), FACTS_2018)
def test_2018_hand_checked_facts(actions_2018, ref, line, written, due) -> None:
    action = actions_2018[ref]
    assert (action.line, action.ref_as_written, action.due) == (line, written, due)
    assert action.text == TEXTS_2018.get(ref, action.text)
    assert action.rag is None


@pytest.mark.parametrize(
    ("ref", "due", "size"),
    [("CS18005", "30 June 2019", 4), ("CS18013", "07 April 2019", 3), ("CS18003", MAR19, 5)]
    + [("CS18006", MAR19, 7), ("CS18008", DEC18, 4), ("CS18009", DEC18, 5), ("CS18011", MAR19, 4)],
)
def test_2018_objectives(ref: str, due: str, size: int) -> None:
    objective = next(o for o in rochdale2018.read(TEXT_2018).objectives if o.ref == ref)
    assert (objective.due, len(objective.actions)) == (due, size)


def test_2018_judgement_calls_are_recorded() -> None:
    draft = rochdale2018.read(TEXT_2018)
    assert draft.themes == [] and all(o.theme is None for o in draft.objectives)
    assert "line 134: CS18008.A sits under CS18009; read as CS18009.A" in draft.notes
    assert any(n.startswith("line 34:") and "CS18002.C" in n for n in draft.notes)
    assert any(n.startswith("line 86:") and "CS18006.B" in n for n in draft.notes)
    letters = [a.ref[-1] for a in draft.objectives[5].actions]
    assert letters == list("ABCDEFG")  # lines 87-91: space, not tab, after the ref
    assert [a.line for a in draft.objectives[5].actions[2:]] == [87, 88, 89, 90, 91]


def test_2018_commentary_is_progress_not_actions() -> None:
    draft = rochdale2018.read(TEXT_2018)
    notes = {o.ref: o.progress for o in draft.objectives}
    assert all(notes.values())  # every objective has its commentary
    assert notes["CS18001"].startswith("The consultation for the schools strategy")
    assert "*" not in "".join(notes.values())
    # CS18010's commentary is cut by a page header mid-sentence (lines 143 and 148).
    joined = "Complex Safe guarding and these are shaping local services."
    assert joined in notes["CS18010"] and notes["CS18010"].count("\n\n") == 1
    assert notes["CS18011"].startswith("Report presented to SLT (20th June 2018)")
    texts = {clean_text(a.text) for _, a in draft.all_actions()}
    assert not any(text.startswith(("The consultation", "Report presented")) for text in texts)


# --- Rochdale 2014: hand-checked facts and judgement calls ----------------------------------

SECTIONS = truth_for(FILE_2014)["themes"]


def test_2014_sections_and_requirements(draft_2014: PlanDraft) -> None:
    assert [t.name for t in draft_2014.themes] == SECTIONS
    assert SECTIONS[4] == "Improvement support measures"  # line 52
    assert [t.ref for t in draft_2014.themes] == ["1", "2", "3", "4", "5"]
    sizes = Counter(o.theme for o in draft_2014.objectives)
    assert [sizes[name] for name in SECTIONS] == [3, 6, 1, 2, 3]
    for o in draft_2014.objectives:
        assert o.source == "DfE Improvement Notice, 10 April 2014"
        [action] = o.actions
        assert (action.ref, action.text, action.line) == (o.ref, o.text, o.line)
        assert (action.due, action.leads, action.rag, o.due) == (None, [], None, None)
    quality = [o.line for o in draft_2014.objectives if o.theme == "Quality of Practice"]
    assert quality == list(range(33, 39))


PLAN_52 = "Develop and implement an Improvement Plan which will set out the actions required to "
PLAN_52 += "comply with this Notice."
FACTS_2014 = [  # ref, as written, line, text start, text end
    ("1.1", "1.1.", 27, "Ensure that all the corporate functions", "in children’s services."),
    ("1.3", "1.3.", 29, "Implement a new workforce strategy", "high quality social workers"),
    ("3.1", "3.1", 42, "The LCSB ensures that all agencies", "within and across organisations."),
    ("4.1", "4.1.", 46, "Work collaboratively", "partnership working is implemented."),
    ("5.2", "5.2.", 57, PLAN_52, "The plan must be approved by the Improvement Board."),
    ("5.3", "5.3.", 58, "With members of the Improvement Board", "Department for Education."),
]


@pytest.mark.parametrize(("ref", "written", "line", "start", "end"), FACTS_2014)
def test_2014_hand_checked_facts(draft_2014, ref, written, line, start, end) -> None:
    [action] = next(o for o in draft_2014.objectives if o.ref == ref).actions
    assert (action.ref_as_written, action.line) == (written, line)
    assert action.text.startswith(start) and action.text.endswith(end)


def test_2014_judgement_calls_are_recorded(draft_2014: PlanDraft) -> None:
    assert "line 42: 3.1 is written without a trailing dot" in draft_2014.notes
    assert "line 48: continues requirement 4.1 (line 46)" in draft_2014.notes
    texts = " ".join(o.text for o in draft_2014.objectives)
    preamble = ["Reflect progress made", "Refocus the targets", "embedded and sustained;"]
    preamble += ["Three months after", "external validation", "Taking account of"]
    assert not [words for words in preamble if words in texts]


# --- Hostile texts: PlanImportError names the line ------------------------------------------


def _insert(text: str, after: int, line: str) -> str:
    lines = text.split("\n")
    return "\n".join([*lines[:after], line, *lines[after:]])


L18, L14 = TEXT_2018.split("\n"), TEXT_2014.split("\n")
HEAD_18 = "Action Plan\tDue Date\tStatus\n**CS18001 Implement the strategy**\n**31 March 2019**\n"
ROW_18 = "■ CS18001.A\tImplementation of Schools Strategy\t31 December 2018\t"
HEAD_14 = "Improvement Notice\n\nTo: Name Rochdale Metropolitan Borough Council\n\n"
BAD = {
    "cut after a heading": "\n".join(L18[:184]),
    "cut after a date": "\n".join(L18[:186]),
    "cut inside a row": "\n".join([*L18[:192], L18[192].split("\t")[0] + "\tEngage"]),
    "duplicated action": _insert(TEXT_2018, 13, L18[12]),
    "bad ref collides": _insert(TEXT_2018, 134, L18[133].replace("CS18008", "CS18009")),
    "header, no actions": HEAD_18 + "\nRef\tName\tDue\t\n",
    "action before objective": f"Action Plan\tDue Date\tStatus\n{ROW_18}\n",
    "duplicated heading": HEAD_18 + ROW_18 + "\n" + HEAD_18,
    "row with extra cells": HEAD_18 + ROW_18 + "\nstray\t31 May 2019\t\n",
    "text after the table": HEAD_18 + ROW_18 + "\nA progress paragraph after the actions.\n",
    "cut after a section": "\n".join(L14[:45]),
    "duplicated requirement": _insert(TEXT_2014, 27, L14[26]),
    "header, no requirements": HEAD_14 + "1. Leadership and Governance\n",
    "title only": HEAD_14 + "The Council must take action to:\n",
    "requirement before section": HEAD_14 + "- 1.1. Ensure things.\n",
    "requirement in wrong section": HEAD_14 + "1. Leadership\n- 2.1. Do it.\n",
}
HOSTILE = [  # reader, case (text in BAD), line named, message
    (rochdale2018, "cut after a heading", 184, "objective CS18013 has no due date"),
    (rochdale2018, "cut after a date", 184, "objective CS18013 has no actions"),
    (rochdale2018, "cut inside a row", 193, "action CS18013.C has no due date"),
    (rochdale2018, "duplicated action", 14, "duplicate action CS18001.A (first on line 13)"),
    (rochdale2018, "bad ref collides", 135, "duplicate action CS18009.A (first on line 134)"),
    (rochdale2018, "header, no actions", 2, "objective CS18001 has no actions"),
    (rochdale2018, "action before objective", 2, "CS18001.A is outside any objective"),
    (rochdale2018, "duplicated heading", 6, "duplicate objective CS18001 (first on line 2)"),
    (rochdale2018, "row with extra cells", 5, "unexpected row after CS18001.A"),
    (rochdale2018, "text after the table", 5, "unexpected text after CS18001.A (not after a"),
    (rochdale2014, "cut after a section", 44, "section 4 has no requirements"),
    (rochdale2014, "duplicated requirement", 28, "duplicate requirement 1.1 (first on line 27)"),
    (rochdale2014, "header, no requirements", 5, "section 1 has no requirements"),
    (rochdale2014, "title only", 1, "the notice has no numbered requirements"),
    (rochdale2014, "requirement before section", 5, "1.1. is outside any section"),
    (rochdale2014, "requirement in wrong section", 6, "requirement 2.1. is under section 1"),
]


@pytest.mark.parametrize(
    ("module", "case", "line", "message"), HOSTILE, ids=[h[1] for h in HOSTILE]
)
def test_hostile_text_raises_naming_the_line(module, case, line, message) -> None:
    with pytest.raises(PlanImportError) as caught:
        module.read(BAD[case], source="bad.txt")
    assert caught.value.line == line
    assert f"bad.txt, line {line}: " in str(caught.value)
    assert message in str(caught.value)
