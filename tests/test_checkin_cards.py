"""Check-in cards: valid Adaptive Cards 1.5 for Teams, the right inputs, verbs and sizes."""

from datetime import date

import pytest

from cards.checkin import (
    CheckinActionView,
    CheckinView,
    LinkSuggestionView,
    MissingView,
    RecordedActionView,
    RecordedView,
    card_kb,
    checkin_card,
    link_suggestions_card,
    missing_card,
    recorded_card,
)
from tests.cardcheck import assert_valid_card

LONG = ("Ensure that all children’s plans are SMART & reviewed <b>monthly</b> — *see* [link](x) "
        * 20)
MRI = "29:1a2b3c-user-mri"


def action(n: int, long: bool = False, **changes) -> CheckinActionView:
    fields = dict(action_id=n, ref=f"2.{n}", title=LONG if long else f"Audit case files {n}",
                  theme=("Quality of Practice " * 15 if long else "Quality of Practice"),
                  due_text="Mar-25", due_date=date(2025, 3, 31), overdue=False, last_rag="amber",
                  last_progress=(LONG if long else "Audit started in two teams."),
                  last_update_at=date(2025, 3, 3))
    return CheckinActionView(**{**fields, **changes})


def view(actions: list[CheckinActionView], **changes) -> CheckinView:
    return CheckinView(**{**dict(token="tok_123-abc", lead_name="Karen Dolton",
                                 plan_name="Manchester Improvement Plan 2015",
                                 period_label="Week of 3 March 2025", actions=actions), **changes})


def walk(node):
    """Every dict inside a card."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def inputs(card: dict) -> dict[str, dict]:
    return {node["id"]: node for node in walk(card) if node.get("type", "").startswith("Input.")}


def texts(card: dict) -> list[dict]:
    return [node for node in walk(card) if node.get("type") == "TextBlock"]


def all_text(card: dict) -> str:
    return "\n".join(block["text"] for block in texts(card))


HUGE_VALUES = {f"{kind}_{n}": "x" * 5000 for n in range(1, 16)
               for kind in ("progress", "evidence", "blockers")}

CHECKIN_VIEWS = {
    "no actions": view([]),
    "one action": view([action(1)]),
    "fifteen long actions": view([action(n, long=True) for n in range(1, 16)], user_mri=MRI),
    "twenty actions": view([action(n) for n in range(1, 21)]),
    "overdue": view([action(1, overdue=True), action(2, due_text=None, due_date=None,
                                                     last_rag=None, last_progress=None)]),
    "errors and values": view([action(1), action(2)], banner="Please fix the items marked below",
                              errors={1: "2.1: Blue means achieved and evidenced: add the "
                                         "evidence (a document, link or report) for this action."},
                              values={"rag_1": "blue", "progress_1": "Done <script>", "token": "t",
                                      "evidence_1": "", "blockers_1": "", "nochange_2": "true"}),
    "reminder with mri": view([action(1)], banner="Reminder: your check-in is due today",
                              user_mri=MRI),
    "huge re-filled values": view([action(n, long=True) for n in range(1, 16)],
                                  values=HUGE_VALUES, errors={1: "Progress is too long."}),
}


@pytest.mark.parametrize("name", CHECKIN_VIEWS)
def test_checkin_card_is_valid_and_small(name):
    card = checkin_card(CHECKIN_VIEWS[name])
    assert_valid_card(card)
    assert card["version"] == "1.5" and card["msteams"] == {"width": "Full"}
    assert card_kb(card) < 80


def test_checkin_card_inputs_verb_and_fallback():
    card = checkin_card(view([action(7), action(9, last_rag=None)]))
    found = inputs(card)
    for n in (7, 9):
        assert found[f"rag_{n}"]["type"] == "Input.ChoiceSet"
        assert found[f"rag_{n}"]["style"] == "compact"
        assert [c["value"] for c in found[f"rag_{n}"]["choices"]] == ["red", "amber", "green",
                                                                      "blue"]
        assert found[f"progress_{n}"]["isMultiline"] is True
        assert found[f"progress_{n}"]["maxLength"] == 4000
        assert found[f"progress_{n}"]["value"] == ""
        assert found[f"evidence_{n}"]["maxLength"] == found[f"blockers_{n}"]["maxLength"] == 2000
        toggle = found[f"nochange_{n}"]
        assert (toggle["type"], toggle["valueOn"], toggle["valueOff"]) == ("Input.Toggle", "true",
                                                                           "false")
    assert found["rag_7"]["value"] == "amber"
    assert "value" not in found["rag_9"]
    assert len(found) == 10
    [submit] = card["actions"]
    assert submit["type"] == "Action.Execute"
    assert submit["verb"] == "checkin.submit" and submit["data"] == {"token": "tok_123-abc"}
    assert submit["fallback"] == {"type": "Action.Submit", "title": submit["title"],
                                  "data": {"verb": "checkin.submit", "token": "tok_123-abc"}}
    assert "refresh" not in card
    assert "Audit started in two teams." in all_text(card)  # the last note as text, not a value
    assert "Blue means achieved and evidenced" in all_text(card)


def test_refresh_only_with_user_mri():
    card = checkin_card(view([action(1)], user_mri=MRI))
    assert card["refresh"] == {"action": {"type": "Action.Execute", "verb": "checkin.refresh",
                                          "data": {"token": "tok_123-abc"}}, "userIds": [MRI]}


def test_no_actions_means_no_submit():
    card = checkin_card(view([]))
    assert "actions" not in card and not inputs(card)
    assert "no open actions" in all_text(card)


def test_overdue_is_highlighted_and_due_text_kept_as_written():
    card = checkin_card(view([action(1, overdue=True), action(2)]))
    due = [block for block in texts(card) if block["text"].startswith("Due:")]
    assert due[0]["text"] == "Due: Mar-25 · Overdue" and due[0]["color"] == "Attention"
    assert due[1]["text"] == "Due: Mar-25" and "color" not in due[1]


def test_errors_shown_under_their_action_and_values_refilled():
    card = checkin_card(CHECKIN_VIEWS["errors and values"])
    first, second = [node for node in card["body"] if node["type"] == "Container"]
    error = [b for b in first["items"] if b.get("color") == "Attention"]
    assert error and error[0]["text"].startswith("2.1: Blue means achieved")
    assert not [b for b in second["items"] if b.get("color") == "Attention"]
    found = inputs(card)
    assert found["rag_1"]["value"] == "blue"  # what they chose, not the last RAG
    assert found["progress_1"]["value"] == "Done <script>"  # kept as text, not escaped
    assert found["rag_2"]["value"] == "amber"
    assert found["nochange_2"]["value"] == "true" and found["nochange_1"]["value"] == "false"
    assert card["body"][2]["text"] == "Please fix the items marked below"
    assert card["body"][2]["color"] == "Attention"


def test_reminder_banner():
    card = checkin_card(CHECKIN_VIEWS["reminder with mri"])
    assert card["body"][2]["text"].startswith("Reminder:") and card["body"][2]["color"] == "Warning"


def test_at_most_fifteen_actions_and_the_rest_announced():
    card = checkin_card(CHECKIN_VIEWS["twenty actions"])
    assert len([n for n in card["body"] if n["type"] == "Container"]) == 15
    assert "rag_15" in inputs(card) and "rag_16" not in inputs(card)
    assert "5 more actions will come next week." in all_text(card)


def test_long_titles_are_cut_to_300_characters():
    card = checkin_card(view([action(1, long=True)]))
    title = card["body"][-1]["items"][0]["text"]
    assert title.startswith("2.1 Ensure") and title.endswith("…")
    assert len(title) == len("2.1 ") + 300


def test_huge_refilled_values_shrink_the_card_not_the_answers():
    card = checkin_card(CHECKIN_VIEWS["huge re-filled values"])
    shown = [n for n in card["body"] if n["type"] == "Container"]
    assert 1 <= len(shown) < 15
    assert inputs(card)["progress_1"]["value"] == "x" * 4000  # never more than the input holds
    assert f"{15 - len(shown)} more action" in all_text(card)


RECORDED = [RecordedActionView(ref=f"1.{n}", title=LONG, rag=rag, no_change=rag is None,
                               progress="Done 🎉 <b>", evidence="https://example.org/report.pdf",
                               blockers=None)
            for n, rag in enumerate(["red", "amber", "green", "blue", None, "Blue"], start=1)]


@pytest.mark.parametrize("actions", [[], RECORDED, [RECORDED[0].model_copy(update={
    "progress": "p" * 4000, "evidence": "e" * 2000, "blockers": "b" * 2000})] * 15],
    ids=["nothing", "each RAG", "fifteen at full length"])
def test_recorded_card_is_valid_and_read_only(actions):
    card = recorded_card(RecordedView(lead_name="Karen Dolton", plan_name="Plan",
                                      period_label="Week of 3 March 2025", by_name="Sam Jackson",
                                      recorded_at_label="3 March 2025 at 10:04", actions=actions))
    assert_valid_card(card)
    assert card_kb(card) < 80
    assert "actions" not in card and not inputs(card)
    assert card["body"][0]["text"] == "Recorded — thank you"
    assert "by Sam Jackson" in all_text(card)


def test_recorded_card_colours_each_rag():
    card = recorded_card(RecordedView(lead_name="K", plan_name="P", period_label="W",
                                      recorded_at_label="today", actions=RECORDED))
    colours = {b["text"]: b.get("color") for b in texts(card) if b["text"].startswith("RAG")}
    assert colours == {"RAG: Red": "Attention", "RAG: Amber": "Warning", "RAG: Green": "Good",
                       "RAG: Blue": "Accent", "RAG: not given": None}
    assert "No change this week" in all_text(card)


@pytest.mark.parametrize("missing", [[], [("Karen Dolton", 3), ("Head of Service", 1)],
                                     [(f"Lead {n}", n) for n in range(60)]],
                         ids=["nobody", "two", "sixty"])
def test_missing_card_is_valid(missing):
    card = missing_card(MissingView(plan_name="Plan", period_label="Week of 3 March 2025",
                                    missing=missing, answered=4, total=4 + len(missing)))
    assert_valid_card(card)
    assert f"4 of {4 + len(missing)} leads have answered." in all_text(card)
    if not missing:
        assert "Everyone has answered" in all_text(card)
    elif len(missing) == 2:
        facts = [n for n in walk(card) if n.get("type") == "FactSet"][0]["facts"]
        assert facts[0] == {"title": "Karen Dolton", "value": "3 open actions"}
        assert facts[1]["value"] == "1 open action"
    else:
        assert "and 10 more" in all_text(card)


@pytest.mark.parametrize("items, unmatched", [
    ([], []),
    ([("K. Dolton", "Karen Dolton", 92), ("Head of Service", None, 0)], ["AD Safeguarding"]),
    ([(f"Lead {n}", f"User {n}", 100 - n) for n in range(25)],
     [f"Unmatched lead {n}" for n in range(40)]),
], ids=["empty", "two", "twenty-five and forty unmatched"])
def test_link_suggestions_card_is_valid(items, unmatched):
    card = link_suggestions_card(LinkSuggestionView(items=items, unmatched=unmatched))
    assert_valid_card(card)
    confirms = [n for n in walk(card) if n.get("type") == "Action.Execute"]
    assert len(confirms) == min(20, len([i for i in items if i[1] is not None]))
    for button, (lead, user, _) in zip(confirms, items, strict=False):
        assert button["verb"] == "people.link" and button["data"] == {"lead": lead, "user": user}
        assert button["fallback"]["data"] == {"verb": "people.link", "lead": lead, "user": user}
    words = all_text(card)
    for lead in unmatched[:30]:
        assert f"• {lead}" in words
    if len(unmatched) > 30:
        assert "• Unmatched lead 30" not in words and "and 10 more" in words
    if len(items) > 20:
        assert "and 5 more suggestions" in words
    if not items and not unmatched:
        assert "Every lead is linked" in words
