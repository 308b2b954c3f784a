"""Tameside 2023 reader against the independent ground truth in ../shared/truth/."""

from __future__ import annotations

from collections import Counter

import pytest

from storage.importers import rochdale2014, rochdale2018, tameside
from storage.importers.draft import PlanDraft, PlanImportError
from storage.rules import clean_text, parse_due
from tests.truthcheck import PLANS, differences, rag_counts, truth_for

FILE = "tameside-improvement-plan-2023.txt"
TEXT = (PLANS / FILE).read_text(encoding="utf-8")
TRUTH = truth_for(FILE)
FIELDS = ("objective_ref", "text", "leads", "due", "rag", "impact_rag")
HEADER = (
    "Ref.\tActions\tHow will we know?\tLead\tStart Date\tEnd Date\t"
    "What our children will say\tAction RAG\tImpact RAG"
)
ROW_11 = "1.1\tReview thresholds\tAudits show it\tDMT\tSep 23\tMar 24\tChildren feel safe\t\t"
CSV = (
    "Plan,Tameside Council improvement plan\n"
    "Ref,Actions,How will we know?,Lead,Start Date,End Date,Action RAG\n"
    "1.1,Review threshold document,Audit,DMT,Sep 23,Mar 24,Amber\n"
    "CS18001.A,Implementation of Schools Strategy,,,,31 December 2018,\n"
)


@pytest.fixture(scope="module")
def draft() -> PlanDraft:
    return tameside.read(TEXT, source=FILE)


@pytest.fixture(scope="module")
def actions(draft: PlanDraft) -> dict:
    return {action.ref: action for _, action in draft.all_actions()}


def test_plan_identity(draft: PlanDraft) -> None:
    assert (draft.name, draft.organisation, draft.year, draft.layout, draft.source_file) == (
        "Tameside Children's Social Care Improvement Plan",
        "Tameside Council",
        2023,
        "tameside-2023",
        FILE,
    )


def test_counts(draft: PlanDraft) -> None:
    counts = TRUTH["counts"]
    assert len(draft.themes) == counts["themes"] == 4
    assert len(draft.objectives) == counts["objectives"] == 4
    assert len(draft.all_actions()) == counts["actions"] == 31
    by_objective = Counter(objective.ref for objective, _ in draft.all_actions())
    assert by_objective == counts["actions_by_objective"]
    # The truth names themes in upper case (the section headings); the reader keeps the
    # title-case names from "Our Priorities", so themes are compared case-insensitively.
    by_theme = Counter(draft.theme_of(o, a).upper() for o, a in draft.all_actions())
    assert by_theme == counts["actions_by_theme"]
    assert rag_counts(draft) == counts["rag"]
    assert all(action.impact_rag is None for _, action in draft.all_actions())


def test_matches_truth(draft: PlanDraft) -> None:
    assert differences(draft, TRUTH, FIELDS) == []


def test_themes_match_truth_case_insensitively(draft: PlanDraft) -> None:
    # Truth: "QUALITY OF PRACTICE"; reader: "Quality of Practice" (see test_counts).
    wanted = {a["ref"]: a["theme"] for a in TRUTH["actions"]}
    got = {a.ref: draft.theme_of(o, a).upper() for o, a in draft.all_actions()}
    assert got == wanted


def test_themes_and_objectives_are_the_priorities(draft: PlanDraft) -> None:
    names = ["Quality of Practice", "Working in Partnership", "Commissioning and Sufficiency"]
    assert [theme.name for theme in draft.themes] == [*names, "Leadership and Workforce"]
    assert [theme.ref for theme in draft.themes] == ["1", "2", "3", "4"]
    for theme, objective, truth in zip(
        draft.themes, draft.objectives, TRUTH["objectives"], strict=True
    ):
        assert theme.name == truth["title_case_name"] == objective.theme
        assert objective.ref == truth["ref"]
        assert objective.text == theme.statement == truth["statement"]
        assert objective.strategic_lead == theme.lead == truth["lead"]
        assert objective.line == truth["line"]
        assert objective.due is None


@pytest.mark.parametrize("field", ["start", "subheading", "line", "ref_as_written"])
def test_action_fields_match_truth(actions: dict, field: str) -> None:
    got = {ref: getattr(action, field) for ref, action in actions.items()}
    assert got == {a["ref"]: a[field] for a in TRUTH["actions"]}


def test_full_text_matches_truth(actions: dict) -> None:
    got = {ref: clean_text(action.text) for ref, action in actions.items()}
    assert got == {a["ref"]: clean_text(a["text_full"]) for a in TRUTH["actions"]}


def test_refs_are_exactly_the_31_actions(actions: dict) -> None:
    # FA1-FA13 and Appendix B's ref lists ("1.3, 1.5, 2.3, 2.4") create nothing.
    wanted = [f"1.{n}" for n in range(1, 11)] + [f"2.{n}" for n in range(1, 6)]
    wanted += [f"3.{n}" for n in range(1, 5)] + [f"4.{n}" for n in range(1, 13)]
    assert list(actions) == wanted
    assert all(action.line < 316 for action in actions.values())  # 316: Appendix A


# Hand-checked facts from the truth README: ref -> (line, leads, start, due, subheading).
SPECIFIC, BASICS = "Children in specific circumstances", "Practice Basics"
FACTS = [
    ("1.1", 215, ["DMT"], "Sep 23", "Mar 24", "Application of Thresholds"),
    ("1.10", 248, ["AD Education", "Head of SEND"], "Oct 23", "Sep 24", SPECIFIC),
    ("3.1", 272, ["Head of Commissioning"], "Sep 23", "Jun 24", None),
    ("3.2", 273, ["AD Children's Social Care", "Head of Commissioning"], "Nov 23", "Apr 24", None),
    ("1.3", 223, ["AD QA and Improvement", "AD Children's Social Care"], "Nov 23", None, BASICS),
    ("1.7", 239, ["AD Children's Social Care"], None, None, "Care Leavers"),
    ("3.4", 277, ["Head of Commissioning"], "Sep 23", "Dec 25", None),
    ("4.1", 287, ["Lead Member"], "Sep 23", "Nov 23", "Strategic Leadership"),
    (
        "4.12",
        312,
        ["AD People and Workforce Development", "AD Quality Assurance and Improvement"],
        "Nov 23",
        "Nov 24",
        "Workforce",
    ),
]


@pytest.mark.parametrize(("ref", "line", "leads", "start", "due", "subheading"), FACTS)
def test_hand_checked_facts(actions, ref, line, leads, start, due, subheading) -> None:
    action = actions[ref]
    assert action.line == line
    assert [lead.name for lead in action.leads] == leads
    assert all(lead.role == "lead" for lead in action.leads)
    assert (action.start, action.due) == (start, due)
    assert action.rag is None and action.impact_rag is None
    assert action.subheading == subheading


def test_fact_1_10_is_not_1_1_and_3_4_is_the_latest(actions: dict) -> None:
    assert actions["1.10"].text.startswith("Improvement Board receive assurance")
    assert actions["1.1"].text.startswith("Review threshold document")
    assert actions["2.3"].impact_rag is None  # blank, not Amber (line 262)
    dated = [a for a in actions.values() if a.due]
    latest = max(dated, key=lambda a: parse_due(a.due))
    assert latest.ref == "3.4" and latest.due == "Dec 25"


def test_fact_priority_2_lead_and_size(draft: PlanDraft) -> None:
    priority = draft.objectives[1]
    lead = "Assistant Director, Quality Assurance and Improvement (Vicki Lawson)"
    assert priority.strategic_lead == lead
    assert len(priority.actions) == 5


def test_judgement_header_typo_is_noted(draft: PlanDraft) -> None:
    assert any(note.startswith("line 271:") and "End Date" in note for note in draft.notes)


@pytest.mark.parametrize(
    ("cell", "roles"),
    [
        ("DCS SLT Head of Improvement", ["DCS", "SLT", "Head of Improvement"]),
        (
            "DCS SLT Assistant Director of People and Workforce Development Head of Improvement",
            [
                "DCS",
                "SLT",
                "Assistant Director of People and Workforce Development",
                "Head of Improvement",
            ],
        ),
        ("DCS Chair of Safeguarding Board", ["DCS", "Chair of Safeguarding Board"]),
        ("AD Adults AD Children's Social Care", ["AD Adults", "AD Children's Social Care"]),
        (
            "<p>AD QA and Improvement</p> <p>Children's Performance Lead</p>",
            ["AD QA and Improvement", "Children's Performance Lead"],
        ),
        ("Lead Member", ["Lead Member"]),
        ("", []),
    ],
)
def test_split_roles(cell: str, roles: list[str]) -> None:
    assert tameside.split_roles(cell) == roles


def test_cells_become_clean_text(actions: dict) -> None:
    first, *bullets = actions["1.2"].text.split("\n")
    assert first == "Review the design of the front door to include;"
    assert len(bullets) == 6 and all(line.startswith("• ") for line in bullets)
    assert actions["2.4"].text.startswith("Ensure parents, carers, children & young people's")
    assert actions["1.1"].measures.split("\n")[0].startswith("Performance data and QA audit")
    assert actions["1.1"].outcome.startswith("Children and their families will say they feel")
    assert not any("<" in (a.text + (a.measures or "")) for a in actions.values())


@pytest.mark.parametrize(
    ("module", "expected"),
    [(tameside, "tameside"), (rochdale2018, "rochdale-council"), (rochdale2014, "rochdale-imp")],
)
def test_detect_matrix(module, expected: str) -> None:
    for path in sorted(PLANS.glob("*.txt")):
        assert module.detect(path.read_text(encoding="utf-8")) == path.name.startswith(expected)
    assert module.detect(CSV) is False
    assert module.detect("") is False


def _cut_row_412() -> str:
    lines = TEXT.split("\n")
    return "\n".join([*lines[:311], "\t".join(lines[311].split("\t")[:4])])


def _duplicate_11() -> str:
    lines = TEXT.split("\n")
    return "\n".join([*lines[:215], lines[214], *lines[215:]])


HOSTILE = [
    ("cut inside row 4.12", _cut_row_412(), 312, "4.12 has 4 cells"),
    ("cut after priority 4's lead", "\n".join(TEXT.split("\n")[:284]), 281, "priority 4 has no"),
    ("duplicated action 1.1", _duplicate_11(), 216, "duplicate action 1.1 (first on line 215)"),
    ("header, no actions", f"Tameside\n\n1: QUALITY OF PRACTICE\nLead: X\n{HEADER}\n", 3, "no act"),
    ("header, no priority", f"Tameside plan\n{HEADER}\n", 2, "no priority heading"),
    ("action before priority", f"Tameside\n{HEADER}\n{ROW_11}\n", 3, "outside any priority"),
    (
        "action under wrong priority",
        f"Tameside\n2: WORKING IN PARTNERSHIP\n{HEADER}\n{ROW_11}\n",
        4,
        "action 1.1 is under priority 2",
    ),
    (
        "action before the table header",
        f"Tameside\n1: QUALITY OF PRACTICE\n{ROW_11}\n",
        3,
        "before the table header",
    ),
    (
        "renamed column",
        f"Tameside\n1: QUALITY OF PRACTICE\n{HEADER.replace('Actions', 'Tasks')}\n{ROW_11}\n",
        3,
        "unexpected table header",
    ),
    (
        "lead line after actions",
        f"Tameside\n1: QUALITY OF PRACTICE\n{HEADER}\n{ROW_11}\nLead: Someone else\n",
        5,
        "a Lead line after the actions of priority 1",
    ),
    (
        "bare ref line",
        f"Tameside\n1: QUALITY OF PRACTICE\n{HEADER}\n{ROW_11}\n1.2\n",
        5,
        "action 1.2 has 1 cells, expected 9",
    ),
    (
        "stray cell",
        f"Tameside\n1: QUALITY OF PRACTICE\n{HEADER}\n{ROW_11}\n\tstray text\t\n",
        5,
        "unexpected row",
    ),
]


@pytest.mark.parametrize(("case", "text", "line", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_text_raises_naming_the_line(case, text, line, message) -> None:
    with pytest.raises(PlanImportError) as caught:
        tameside.read(text, source="bad.txt")
    assert caught.value.line == line
    assert f"bad.txt, line {line}: " in str(caught.value)
    assert message in str(caught.value)
