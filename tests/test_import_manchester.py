"""The Manchester 2015 reader against the independently counted ground truth (shared/truth)."""

from __future__ import annotations

from collections import Counter

import pytest

from storage.importers import manchester
from storage.importers.draft import ActionDraft, PlanDraft, PlanImportError
from storage.rules import parse_rag
from tests.truthcheck import PLANS, differences, rag_counts, truth_for

PLAN = "manchester-improvement-plan-2015-rag.txt"
FIELDS = ("objective_ref", "theme", "text", "leads", "due", "rag", "impact_rag")

pytestmark = pytest.mark.skipif(not (PLANS / PLAN).exists(), reason="shared plans not mounted")


@pytest.fixture(scope="module")
def text() -> str:
    return (PLANS / PLAN).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def draft(text: str) -> PlanDraft:
    return manchester.read(text, source=PLAN)


@pytest.fixture(scope="module")
def truth() -> dict:
    return truth_for(PLAN)


@pytest.fixture(scope="module")
def actions(draft: PlanDraft) -> dict[str, ActionDraft]:
    return {action.ref: action for _, action in draft.all_actions()}


def leads(action: ActionDraft) -> list[str]:
    return [lead.name for lead in action.leads]


# --- Counts -------------------------------------------------------------------------------------


def test_plan_details(draft: PlanDraft) -> None:
    assert draft.layout == "manchester-2015"
    assert draft.organisation == "Manchester City Council"
    assert draft.year == 2015
    assert "Manchester" in draft.name
    assert draft.source_file == PLAN
    assert draft.loose_actions == []


def test_counts(draft: PlanDraft, truth: dict) -> None:
    assert len(draft.themes) == truth["counts"]["themes"] == 5
    assert len(draft.objectives) == truth["counts"]["objectives"] == 26
    assert len(draft.all_actions()) == truth["counts"]["actions"] == 93
    assert [theme.name for theme in draft.themes] == truth["themes"]
    assert [objective.ref for objective in draft.objectives] == [str(n) for n in range(1, 27)]


def test_actions_by_theme(draft: PlanDraft, truth: dict) -> None:
    got = Counter(draft.theme_of(objective, action) for objective, action in draft.all_actions())
    assert dict(got) == truth["counts"]["actions_by_theme"]


def test_actions_by_objective(draft: PlanDraft, truth: dict) -> None:
    got = {objective.ref: len(objective.actions) for objective in draft.objectives}
    assert got == truth["counts"]["actions_by_objective"]


def test_rag_counts(draft: PlanDraft) -> None:
    assert rag_counts(draft) == {"Red": 22, "Amber": 53, "Green": 16, "Blue": 0, "none": 2}


def test_rag_printed_on_the_row(draft: PlanDraft, truth: dict) -> None:
    """Without fill-down each action keeps the RAG on its own row; 8c's row RAG is rec 9's."""
    on_row = {row["ref"]: row["rag_on_row"] for row in truth["actions"]}
    differ = {
        action.ref
        for _, action in draft.all_actions()
        if (None if action.rag_inherited else action.rag) != on_row[action.ref]
    }
    assert differ == {"8c"}


def test_no_differences_from_truth(draft: PlanDraft, truth: dict) -> None:
    assert differences(draft, truth, FIELDS) == []


def test_full_text_and_fill_down_flags_match_truth(draft: PlanDraft, truth: dict) -> None:
    want = {row["ref"]: row for row in truth["actions"]}
    for _, action in draft.all_actions():
        row = want[action.ref]
        assert action.text == " ".join(row["text_full"].split()), action.ref
        assert action.ref_as_written == row["ref_as_written"], action.ref
        assert action.line == row["line"], action.ref
        assert action.rag_inherited == row["rag_inherited"], action.ref
        assert action.leads_inherited == row["leads_inherited"], action.ref


def test_objective_text_is_the_recommendation_without_its_number(
    draft: PlanDraft, truth: dict
) -> None:
    want = {row["ref"]: " ".join(row["text_full"].split()) for row in truth["objectives"]}
    assert {objective.ref: objective.text for objective in draft.objectives} == want
    assert draft.objectives[0].text == draft.objectives[1].text  # recs 1 and 2: same source text


def test_leads_are_strategic_then_operational(actions: dict[str, ActionDraft]) -> None:
    for ref, action in actions.items():
        assert [lead.role for lead in action.leads] == ["strategic", "operational"], ref


def test_reading_twice_gives_the_same_draft(text: str, draft: PlanDraft) -> None:
    assert manchester.read(text, source=PLAN) == draft


@pytest.mark.parametrize(
    ("plan_file", "expected"),
    [
        (PLAN, True),
        ("tameside-improvement-plan-2023.txt", False),
        ("rochdale-council-plan-2018-actions.txt", False),
        ("rochdale-improvement-notice-2014.txt", False),
    ],
)
def test_detect(plan_file: str, expected: bool) -> None:
    assert manchester.detect((PLANS / plan_file).read_text(encoding="utf-8")) is expected


# --- The twelve hand-checked facts (truth README) -------------------------------------------------


def test_fact_01_themes_recommendations_actions(draft: PlanDraft) -> None:
    by_theme = Counter(draft.theme_of(o, a) for o, a in draft.all_actions())
    assert (len(draft.themes), len(draft.objectives), len(draft.all_actions())) == (5, 26, 93)
    assert by_theme == {
        "Vision, Leadership & Governance": 11,
        "Quality of practice and capacity": 24,
        "Looked after children, permanence and leaving care": 44,
        "Provision of help": 9,
        "Improving Performance Information and quality assurance": 5,
    }


def test_fact_02_malformed_ref_1d(draft: PlanDraft, actions: dict[str, ActionDraft]) -> None:
    action = actions["1d"]
    assert action.ref_as_written == "1.d" and action.line == 15
    assert action.text == "Appoint an independent chair of the Improvement Board"
    assert (action.rag, action.rag_inherited) == ("RED", True)
    assert leads(action) == ["Geoff Little", "Gladys Rhodes White"]
    assert any(o.ref == "1" and action in o.actions for o in draft.objectives)


def test_fact_03_glued_ref_24b(draft: PlanDraft, actions: dict[str, ActionDraft]) -> None:
    action = actions["24b"]
    assert action.line == 123 and action.text.startswith("Revise focus of adoption")
    objective = next(o for o in draft.objectives if action in o.actions)
    assert objective.theme == "Improving Performance Information and quality assurance"
    assert (action.rag, action.rag_inherited) == ("amber", True)
    assert leads(action) == ["Lana Shannon", "Heather Johns"]


@pytest.mark.parametrize("ref", ["4b", "4c", "4d", "4e", "4f"])
def test_fact_04_text_only_rows_take_4a_values(ref: str, actions: dict[str, ActionDraft]) -> None:
    action = actions[ref]
    assert (action.rag, action.rag_inherited) == ("Amber", True)
    assert (leads(action), action.leads_inherited) == (["Karen Dolton", "Kerry Mehta"], True)
    assert action.due is None  # due dates are not filled down
    assert actions["4a"].due == "Jun-15"


def test_fact_05_8c_on_recommendation_9s_row(
    draft: PlanDraft, actions: dict[str, ActionDraft]
) -> None:
    by_ref = {o.ref: o for o in draft.objectives}
    assert [a.ref for a in by_ref["8"].actions] == ["8a", "8b", "8c"]
    assert [a.ref for a in by_ref["9"].actions] == ["9a", "9b", "9c"]
    assert actions["8c"].line == 55 and actions["8c"].rag == "red"
    assert leads(actions["8c"]) == ["Karen Dolton", "Lana Shannon"]
    assert actions["8c"].due is None
    assert (actions["9a"].rag, actions["9a"].rag_inherited) == ("Amber", True)
    assert leads(actions["9a"]) == ["Karen Dolton", "Kathy Weaver"]
    assert by_ref["9"].strategic_lead == "Karen Dolton"


def test_fact_06_shifted_rows_21d_21e(draft: PlanDraft, actions: dict[str, ActionDraft]) -> None:
    by_ref = {o.ref: o for o in draft.objectives}
    assert [a.ref for a in by_ref["21"].actions] == ["21a", "21b", "21c", "21d", "21e"]
    assert actions["21d"].text.startswith("Group of Head Teachers")
    assert actions["21e"].text.startswith("Scope out the role of GM Pin EH process")
    assert (actions["21e"].rag, actions["21e"].rag_inherited) == ("amber", False)
    assert leads(actions["21e"]) == ["D Copley", "SUPT RAWLINSON"]
    assert actions["21e"].rating_change is None  # "D Copley" is not a rating change


@pytest.mark.parametrize("ref", ["12a", "12b", "12c", "12d", "12e", "12f"])
def test_fact_07_six_actions_in_one_cell(ref: str, actions: dict[str, ActionDraft]) -> None:
    action = actions[ref]
    assert action.line == 82
    assert (action.rag, action.due, action.rating_change) == ("Amber", "Dec-14", "↓")
    assert leads(action) == ["Gladys Rhodes White", "Jane Johnson"]


def test_fact_08_recommendation_5_has_no_rag(actions: dict[str, ActionDraft]) -> None:
    assert sorted(ref for ref, action in actions.items() if action.rag is None) == ["5a", "5b"]
    assert actions["5a"].rating_change == "↔"


def test_fact_09_10e_and_10h(actions: dict[str, ActionDraft]) -> None:
    assert (actions["10e"].rag, actions["10e"].due) == ("RED", None)
    assert leads(actions["10e"]) == ["D Copley", "S. Rawlinson/S Jackson"]  # not split on "/"
    assert (actions["10h"].rag, actions["10h"].due) == ("Green", "Feb-15")
    assert leads(actions["10h"]) == ["Ian Williamson", "Anna Berry"]  # written "Anna Berry,"


def test_fact_10_23c_deadline(actions: dict[str, ActionDraft]) -> None:
    assert actions["23c"].due == "December 2014 (phase2) Completed"
    assert leads(actions["23c"]) == ["Ian Williamson", "Anna Berry"]


def test_fact_11_red_in_quality_of_practice(draft: PlanDraft) -> None:
    theme = "Quality of practice and capacity"
    red = [a for o, a in draft.all_actions() if o and o.theme == theme and a.rag
           and parse_rag(a.rag) is parse_rag("red")]
    assert [a.ref for a in red] == ["3a", "3b", "3c", "8a", "8b", "8c"]
    assert [a.ref for a in red if not a.rag_inherited] == ["3a", "8a"]


def test_fact_12_2d_shifted_deadline(actions: dict[str, ActionDraft]) -> None:
    action = actions["2d"]
    assert (action.rag, action.rag_inherited, action.due) == ("Green", False, "Completed")
    assert action.progress and action.progress.startswith("New chair of Children's Safeguarding")


# --- Judgement calls are written down -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (25, "Deadline column"),
        (55, "8c"),
        (59, "9c"),
        (99, "20b"),
        (109, "shifted one column left"),
        (110, "shifted one column left"),
        (18, "no action"),
        (19, "no action"),
        (20, "no action"),
        (21, "no action"),
        (105, "no action"),
        (106, "no action"),
        (112, "no action"),
    ],
)
def test_judgement_calls_are_noted(draft: PlanDraft, line: int, words: str) -> None:
    assert any(note.startswith(f"line {line}:") and words in note for note in draft.notes)


def test_leads_on_the_row_below(actions: dict[str, ActionDraft]) -> None:
    assert (leads(actions["9c"]), actions["9c"].leads_inherited) == (
        ["D Copley", "SUPT RAWLINSON"], False)
    assert leads(actions["20b"]) == ["D. Copley", "SUPT RAWLINSON"]
    assert leads(actions["20a"]) == ["Lana Shannon", "Heather Johns"]


def test_orphan_rows_make_no_actions(actions: dict[str, ActionDraft]) -> None:
    assert not {18, 19, 20, 21, 105, 106, 112} & {action.line for action in actions.values()}


def test_missing_header_is_an_error() -> None:
    with pytest.raises(PlanImportError, match="header"):
        manchester.read("Theme\tSomething\nno table here\n", source="x.txt")


HEADER = ("Theme\tSource/Ofsted\tActions\tCurrent RAG\tRating Change\t"
          "Strategic Lead (Board member )\tOperational Lead\tProgress\tDeadline\t"
          "Evidence of progress\tOutcome")


def small_plan(*rows: str) -> str:
    return "\n".join(("Jan-15", HEADER, *rows)) + "\n"


def test_small_plan_fill_down_and_run_on_text() -> None:
    text = small_plan(
        "Help\t1. Do better\t1a. First\tRED\t\tAnn\tBob\tnote\tFeb-15\t\t",
        "\t\t1b. Second part\t\t\t\t\t\t\t\t",
        "\t\tcontinued after the page break\t\t\t\t\t\t\t\t",
    )
    draft = manchester.read(text, source="small.txt")
    first, second = draft.objectives[0].actions
    assert (second.text, second.rag, second.rag_inherited) == (
        "Second part continued after the page break", "RED", True)
    assert (first.due, second.due) == ("Feb-15", None)
    assert any(note.startswith("line 5:") and "continues 1b" in note for note in draft.notes)


def test_duplicate_action_ref_names_both_lines() -> None:
    text = small_plan("Help\t1. Do better\t1a. First\tRED\t\tAnn\tBob\t\t\t\t",
                      "\t\t1a. Again\t\t\t\t\t\t\t\t")
    with pytest.raises(PlanImportError, match=r"line 4: action 1a appears twice.*3 and line 4"):
        manchester.read(text, source="dup.txt")
