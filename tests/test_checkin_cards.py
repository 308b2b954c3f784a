"""Check-in cards: valid Adaptive Cards 1.5 for Teams, the right inputs, verbs and sizes."""

import json
from datetime import date

import pytest

from cards.checkin import (
    CheckinActionView,
    CheckinView,
    MissingView,
    RecordedActionView,
    RecordedView,
    card_kb,
    checkin_card,
    due_label,
    missing_card,
    recorded_card,
)
from cards.links import LinkSuggestionView, link_suggestions_card
from dialogs.checkin import message_with_card
from storage.outbox import with_marker
from tests.cardcheck import assert_valid_card

LONG = ("Ensure that all children’s plans are SMART & reviewed <b>monthly</b> — *see* [link](x) "
        * 20)
MRI = "29:1a2b3c-user-mri"
BLUE_ERROR = ("2.1: Blue means achieved and evidenced: add the evidence (a document, link or "
              "report) for this action.")


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
    return [node for node in walk(card) if node.get("type") in ("TextBlock", "TextRun")]


def all_text(card: dict) -> str:
    return "\n".join(block["text"] for block in texts(card))


def blocks(card: dict) -> list[dict]:
    """The per-action blocks of a check-in card (its top-level Containers)."""
    return [node for node in card["body"] if node["type"] == "Container"]


def by_id(card: dict, element_id: str) -> dict:
    [found] = [node for node in walk(card) if node.get("id") == element_id]
    return found


def facts_line(block: dict) -> str:
    [facts] = [item for item in block["items"] if item["type"] == "RichTextBlock"]
    return "".join(run["text"] for run in facts["inlines"])


HUGE_VALUES = {f"{kind}_{n}": "x" * 5000 for n in range(1, 16)
               for kind in ("progress", "evidence", "blockers")}

CHECKIN_VIEWS = {
    "no actions": view([]),
    "one action": view([action(1)]),
    "fifteen long actions": view([action(n, long=True) for n in range(1, 16)], user_mri=MRI,
                                 not_shown=20),
    "twenty actions": view([action(n) for n in range(1, 21)]),
    "overdue": view([action(1, overdue=True), action(2, due_text=None, due_date=None,
                                                     last_rag=None, last_progress=None,
                                                     last_update_at=None)]),
    "errors and values": view([action(1), action(2)],
                              banner="Nothing was saved yet: Please fix the item marked below.",
                              errors={1: BLUE_ERROR},
                              values={"rag_1": "blue", "progress_1": "Done <script>", "token": "t",
                                      "evidence_1": "", "blockers_1": "", "nochange_2": "true"}),
    "reminder with mri": view([action(1)], banner="Reminder: your check-in is due today",
                              user_mri=MRI),
    "huge re-filled values": view([action(n, long=True) for n in range(1, 16)],
                                  values=HUGE_VALUES, errors={1: "Progress is too long."}),
    "every kind of error": view([action(n) for n in range(1, 6)], errors={
        1: "2.1: RAG rating: choose Red, Amber, Green or Blue.", 2: "Progress is too long.",
        3: "Blockers is too long: at most 2000 characters.", 4: "This action is not on your card.",
        5: "No change this week must be on or off."}),
}


@pytest.mark.parametrize("name", CHECKIN_VIEWS)
def test_checkin_card_is_valid_and_small(name):
    card = checkin_card(CHECKIN_VIEWS[name])
    assert_valid_card(card)
    assert card["version"] == "1.5" and card["msteams"] == {"width": "Full"}
    assert card_kb(card) < 80
    queued = with_marker(message_with_card(card, "check-in"), "checkin:2147483647:2147483647")
    [attachment] = queued["attachments"]  # as the outbox sends it, with its row's marker
    assert_valid_card(attachment["content"])
    assert card_kb(attachment["content"]) < 80
    if "actions" in card:  # the token, and which update of each action the card shows
        view = CHECKIN_VIEWS[name]
        shown = ",".join(f"{a.action_id}:{a.last_update_id}" for a in view.actions[:15])
        assert card["actions"][0]["data"]["token"] == "tok_123-abc"
        assert shown.startswith(card["actions"][0]["data"]["seen"])
    words = json.dumps(card, ensure_ascii=False)
    assert '"Warning"' not in words and '"Good"' not in words  # no yellow or green text


def test_checkin_card_inputs_verb_and_fallback():
    card = checkin_card(view([action(7), action(9, last_rag=None)]))
    found = inputs(card)
    for n in (7, 9):
        assert found[f"rag_{n}"]["type"] == "Input.ChoiceSet"
        assert found[f"rag_{n}"]["style"] == "compact"
        assert [(c["title"], c["value"]) for c in found[f"rag_{n}"]["choices"]] == [
            ("🔴 Red", "red"), ("🟠 Amber", "amber"), ("🟢 Green", "green"), ("🔵 Blue", "blue")]
        assert found[f"progress_{n}"]["isMultiline"] is True
        assert found[f"progress_{n}"]["maxLength"] == 4000
        assert found[f"progress_{n}"].get("value", "") == ""  # empty inputs carry no value
        assert found[f"evidence_{n}"]["maxLength"] == found[f"blockers_{n}"]["maxLength"] == 2000
        assert found[f"evidence_{n}"]["isMultiline"] is found[f"blockers_{n}"]["isMultiline"]
        assert found[f"evidence_{n}"]["isMultiline"] is True
        toggle = found[f"nochange_{n}"]
        assert (toggle["type"], toggle["valueOn"], toggle["valueOff"]) == ("Input.Toggle", "true",
                                                                           "false")
        corrective, review = found[f"corrective_{n}"], found[f"review_{n}"]
        assert (corrective["type"], corrective["isMultiline"], corrective["maxLength"],
                corrective.get("value", "")) == ("Input.Text", True, 2000, "")
        assert (review["type"], review.get("value", "")) == ("Input.Date", "")
    assert found["rag_7"]["value"] == "amber"
    assert "value" not in found["rag_9"]
    assert len(found) == 14  # rag, no change, progress, corrective, review, evidence, blockers
    [submit] = card["actions"]
    assert submit["type"] == "Action.Execute"
    assert submit["verb"] == "checkin.submit"
    assert submit["data"] == {"token": "tok_123-abc", "seen": "7:0,9:0"}
    assert submit["fallback"] == {"type": "Action.Submit", "title": submit["title"],
                                  "data": {"verb": "checkin.submit", "token": "tok_123-abc",
                                           "seen": "7:0,9:0"}}
    assert "refresh" not in card
    assert "Audit started in two teams." in all_text(card)  # the last note as text, not a value
    assert "Blue means achieved and evidenced" in all_text(card)
    assert "Red or Amber needs the corrective action and the next review date" in all_text(card)


def test_rag_choice_and_no_change_side_by_side_then_progress():
    [block] = blocks(checkin_card(view([action(1)])))
    kinds = [item["type"] for item in block["items"]]
    row = block["items"][kinds.index("ColumnSet")]
    assert [column["items"][0]["id"] for column in row["columns"]] == ["rag_1", "nochange_1"]
    after = block["items"][kinds.index("ColumnSet") + 1]
    assert after["id"] == "progress_1" and after["isMultiline"] is True


def test_title_line_is_large_and_the_facts_fit_one_line():
    card = checkin_card(view([action(1, overdue=True, last_update_at=date(2025, 3, 3))]))
    [block] = blocks(card)
    title, theme = block["items"][:2]
    assert title["text"] == "2.1 · Audit case files 1"
    assert (title["size"], title["weight"]) == ("Large", "Bolder")
    assert theme["text"] == "Quality of Practice" and theme["isSubtle"] is True
    line = facts_line(block).replace("\u00a0", " ")
    assert line == "Due Mar-25 (31 Mar 2025) · Overdue · Last RAG 🟠 Amber, 3 Mar 2025"
    assert "Last note: Audit started in two teams." in all_text(card)


def test_rag_words_with_circles_never_coloured_text():
    card = checkin_card(view([action(n, last_rag=rag) for n, rag in
                              enumerate(["red", "amber", "green", "blue"], start=1)]))
    lines = [facts_line(block) for block in blocks(card)]
    for line, word in zip(lines, ["🔴 Red", "🟠 Amber", "🟢 Green", "🔵 Blue"], strict=True):
        assert f"Last RAG {word}" in line
    coloured = [node for node in texts(card) if node.get("color")]
    assert coloured == []  # nothing overdue, no error, no banner: no coloured text at all


def test_overdue_is_the_only_coloured_word_and_due_text_kept_as_written():
    card = checkin_card(CHECKIN_VIEWS["overdue"])
    first, second = blocks(card)
    runs = [item for item in first["items"] if item["type"] == "RichTextBlock"][0]["inlines"]
    [red] = [run for run in runs if run.get("color")]
    assert (red["text"], red["color"]) == ("Overdue", "Attention")
    assert facts_line(first).replace("\u00a0", " ").startswith("Due Mar-25 (31 Mar 2025) · ")
    assert "31\u00a0Mar\u00a02025" in facts_line(first)  # a date is never split over lines
    assert facts_line(second) == "No due date · No update yet"


@pytest.mark.parametrize("changes, label", [
    (dict(due_text="Mar-25", due_date=date(2025, 3, 31)), "Mar-25 (31 Mar 2025)"),
    (dict(due_text="31 Mar 2025", due_date=date(2025, 3, 31)), "31 Mar 2025"),
    (dict(due_text="31/03/2025", due_date=date(2025, 3, 31)), "31/03/2025"),
    (dict(due_text=None, due_date=date(2025, 3, 31)), "31 Mar 2025"),
    (dict(due_text="Ongoing", due_date=None), "Ongoing"),
    (dict(due_text=None, due_date=None), None),
    (dict(due_text="Mar-25", due_date=date(2025, 3, 31), due_label="end of March"),
     "end of March"),
])
def test_due_label(changes, label):
    assert due_label(action(1, **changes)) == label


def test_evidence_and_blockers_hidden_behind_a_toggle():
    card = checkin_card(view([action(1), action(2)]))
    for n in (1, 2):
        more = by_id(card, f"more_{n}")
        assert more["type"] == "Container" and more["isVisible"] is False
        assert [item["id"] for item in more["items"]] == [f"evidence_{n}", f"blockers_{n}"]
        toggles = [node for node in walk(card) if node.get("type") == "Action.ToggleVisibility"
                   and node["targetElements"] == [f"more_{n}"]]
        assert [t["title"] for t in toggles] == ["Add evidence or blockers"]
    assert card["actions"][0]["data"]["token"] == "tok_123-abc"  # Send is still first


def test_errors_shown_under_evidence_expanded_and_values_refilled():
    card = checkin_card(CHECKIN_VIEWS["errors and values"])
    first, second = blocks(card)
    more = by_id(card, "more_1")
    assert more["isVisible"] is True  # an error about evidence: shown open
    assert more["items"][0]["id"] == "evidence_1"
    error = more["items"][1]  # right after the Evidence input
    assert error["type"] == "TextBlock" and error["text"].startswith("Blue means achieved")
    assert (error["color"], error["weight"]) == ("Attention", "Bolder")
    assert "2.1" not in error["text"]  # the ref is not repeated under its own action
    assert not [n for n in walk(first) if n.get("type") == "Action.ToggleVisibility"]
    assert not [n for n in walk(second) if n.get("color") == "Attention"]
    assert by_id(card, "more_2")["isVisible"] is False
    found = inputs(card)
    assert found["rag_1"]["value"] == "blue"  # what they chose, not the last RAG
    assert found["progress_1"]["value"] == "Done <script>"  # kept as text, not escaped
    assert found["rag_2"]["value"] == "amber"
    assert found["nochange_2"]["value"] == "true" and found["nochange_1"]["value"] == "false"
    banner = card["body"][2]
    assert banner["text"] == "Nothing was saved: 2.1 needs evidence for Blue."
    assert (banner["color"], banner["weight"]) == ("Attention", "Bolder")


def test_each_error_goes_under_its_field_and_the_banner_names_the_refs():
    card = checkin_card(CHECKIN_VIEWS["every kind of error"])

    def before_error(n: int) -> dict:
        items = [node for node in walk(blocks(card)[n - 1]) if "items" in node]
        for holder in items:
            for index, item in enumerate(holder["items"]):
                if item.get("color") == "Attention":
                    return holder["items"][index - 1]
        raise AssertionError(f"no error in block {n}")

    assert before_error(1)["type"] == "ColumnSet"  # RAG: under the RAG row
    assert before_error(2)["id"] == "progress_2"
    assert before_error(3)["id"] == "blockers_3"
    assert before_error(4)["type"] == "RichTextBlock" or before_error(4)["isSubtle"]  # the top
    assert before_error(5)["type"] == "ColumnSet"  # the toggle is in the RAG row
    assert by_id(card, "more_3")["isVisible"] is True
    assert by_id(card, "more_2")["isVisible"] is False
    assert card["body"][2]["text"] == ("Nothing was saved: please check 2.1, 2.2, 2.3, 2.4 and "
                                       "2.5 below.")


def test_refilled_evidence_opens_the_evidence_and_blockers():
    card = checkin_card(view([action(1), action(2)], values={"evidence_2": "report.pdf"}))
    assert by_id(card, "more_1")["isVisible"] is False
    assert by_id(card, "more_2")["isVisible"] is True
    assert inputs(card)["evidence_2"]["value"] == "report.pdf"


def test_a_dialog_banner_with_more_to_say_is_kept_after_the_refs():
    card = checkin_card(view([action(1)], errors={1: BLUE_ERROR},
                             banner="Nothing was saved yet: The card's token is missing."))
    assert card["body"][2]["text"] == ("Nothing was saved: 2.1 needs evidence for Blue. The "
                                       "card's token is missing.")
    whole = checkin_card(view([action(1)], banner="Nothing was saved yet: The card sent no data.",
                              errors={}))
    assert whole["body"][2]["text"] == "Nothing was saved yet: The card sent no data."


def test_reminder_banner_is_not_yellow():
    card = checkin_card(CHECKIN_VIEWS["reminder with mri"])
    assert card["body"][2]["text"].startswith("Reminder:") and card["body"][2]["color"] == "Accent"


def test_short_heading_and_dates_kept_together():
    card = checkin_card(view([action(1)]))
    assert card["body"][0]["text"] == "Weekly check-in"
    assert card["body"][1]["text"] == ("Manchester Improvement Plan 2015 · Karen\u00a0Dolton · "
                                       "Week\u00a0of\u00a03\u00a0March\u00a02025")


def test_not_shown_note_uses_a_ref_from_the_card_on_its_own_line():
    card = checkin_card(view([action(4), action(5)], not_shown=12))
    *_, note, example = card["body"]
    assert note["text"].startswith("You lead 12 more open actions")
    assert example["text"] == ("update 2.4 amber: what has moved; corrective: what is being "
                               "done; review: 12 December")  # an Amber that chat accepts
    assert example["fontType"] == "Monospace"


def test_at_most_fifteen_actions_and_the_rest_announced():
    card = checkin_card(CHECKIN_VIEWS["twenty actions"])
    assert len(blocks(card)) == 15
    assert "rag_15" in inputs(card) and "rag_16" not in inputs(card)
    assert "5 more actions will come next week." in all_text(card)


def test_long_titles_and_notes_are_cut_at_a_word():
    card = checkin_card(view([action(1, long=True)]))
    title = blocks(card)[0]["items"][0]["text"]
    assert title.startswith("2.1 · Ensure") and title.endswith("…")
    assert len(title) <= len("2.1 · ") + 56
    assert title[:-1].split(" ")[-1] in LONG.split(" ")  # a whole word before the "…"
    note = [t["text"] for t in texts(card) if t["text"].startswith("Last note: ")][0]
    assert note.endswith("…") and len(note) <= len("Last note: ") + 64


def test_huge_refilled_values_shrink_the_card_not_the_answers():
    card = checkin_card(CHECKIN_VIEWS["huge re-filled values"])
    shown = blocks(card)
    assert 1 <= len(shown) < 15
    assert inputs(card)["progress_1"]["value"] == "x" * 4000  # never more than the input holds
    assert f"{15 - len(shown)} more action" in all_text(card)


RECORDED = [RecordedActionView(ref=f"1.{n}", title=LONG, rag=rag, no_change=rag is None,
                               progress="Done 🎉 <b>", evidence="https://example.org/report.pdf",
                               blockers=None)
            for n, rag in enumerate(["red", "amber", "green", "blue", None, "Blue"], start=1)]


def recorded(actions=RECORDED, **changes) -> dict:
    return recorded_card(RecordedView(**{**dict(
        lead_name="Karen Dolton", plan_name="Plan", period_label="week of 3 March 2025",
        by_name="Sam Jackson", recorded_at_label="3 March 2025 at 10:04", actions=actions),
        **changes}))


@pytest.mark.parametrize("actions", [[], RECORDED, [RECORDED[0].model_copy(update={
    "progress": "p" * 4000, "evidence": "e" * 2000, "blockers": "b" * 2000})] * 15],
    ids=["nothing", "each RAG", "fifteen at full length"])
def test_recorded_card_is_valid_and_read_only(actions):
    card = recorded(actions)
    assert_valid_card(card)
    assert card_kb(card) < 80
    assert "actions" not in card and not inputs(card)
    assert card["body"][0]["text"] == "Recorded — thank you"
    assert "Recorded 3 March 2025 at 10:04 by Sam Jackson." in all_text(card)


def test_recorded_card_names_who_only_when_not_the_lead():
    assert "Recorded 3 March 2025 at 10:04." in all_text(recorded(by_name="Karen Dolton"))
    assert "Recorded 3 March 2025 at 10:04." in all_text(recorded(by_name=None))


def test_recorded_card_rag_words_and_how_to_correct():
    card = recorded()
    lines = [b["text"] for b in texts(card) if b["text"].startswith("RAG")]
    assert lines == ["RAG 🔴 Red", "RAG 🟠 Amber", "RAG 🟢 Green", "RAG 🔵 Blue",
                     "RAG not given · No change this week", "RAG 🔵 Blue"]
    assert not [b for b in texts(card) if b.get("color")]
    assert card["body"][-1]["text"] == "Made a mistake? Send a new update: “update 1.1 red: …”"


@pytest.mark.parametrize("missing", [[], [("Karen Dolton", 3), ("Head of Service", 1)],
                                     [(f"Lead {n}", n) for n in range(60)]],
                         ids=["nobody", "two", "sixty"])
def test_missing_card_is_valid(missing):
    card = missing_card(MissingView(plan_name="Plan", period_label="week of 3 March 2025",
                                    missing=missing, answered=4, total=4 + len(missing),
                                    reminder_days=["Wednesday", "Thursday"]))
    assert_valid_card(card)
    assert card["body"][0]["text"] == f"Check-in: 4 of {4 + len(missing)} leads answered"
    if not missing:
        assert "Everyone has answered" in all_text(card)
    elif len(missing) == 2:
        facts = [n for n in walk(card) if n.get("type") == "FactSet"][0]["facts"]
        assert facts[0] == {"title": "Karen Dolton", "value": "3 open actions"}
        assert facts[1]["value"] == "1 open action"
        assert card["body"][-1]["text"] == "Reminders were sent on Wednesday and Thursday."
    else:
        assert "and 10 more" in all_text(card)


def test_missing_card_sorted_by_open_actions_then_name():
    card = missing_card(MissingView(
        plan_name="Plan", period_label="week of 3 March 2025", answered=1, total=6,
        missing=[("Zoe Adams", 2), ("bob Brown", 9), ("Amy Clark", 2), ("Cy Dunn", 15),
                 ("Al Evans", 9)]))
    facts = [n for n in walk(card) if n.get("type") == "FactSet"][0]["facts"]
    assert [f["title"] for f in facts] == ["Cy Dunn", "Al Evans", "bob Brown", "Amy Clark",
                                           "Zoe Adams"]
    assert card["body"][-1]["text"] == "Reminders were sent during the week."


def confirms(card: dict) -> list[dict]:
    return [n for n in walk(card) if n.get("type") == "Action.Execute"]


@pytest.mark.parametrize("items, unmatched", [
    ([], []),
    ([("K. Dolton", "Karen Dolton", 92), ("Head of Service", None, 0)], ["AD Safeguarding"]),
    ([(f"Lead {n}", f"User {n}", 100 - n) for n in range(25)],
     [f"Unmatched lead {n}" for n in range(40)]),
], ids=["empty", "two", "twenty-five and forty unmatched"])
def test_link_suggestions_card_is_valid(items, unmatched):
    card = link_suggestions_card(LinkSuggestionView(items=items, unmatched=unmatched))
    assert_valid_card(card)
    buttons = confirms(card)
    assert len(buttons) == min(20, len([i for i in items if i[1] is not None]))
    for button, (lead, user, _) in zip(buttons, items, strict=False):
        assert button["verb"] == "people.link" and button["data"] == {"lead": lead, "user": user}
        assert button["fallback"]["data"] == {"verb": "people.link", "lead": lead, "user": user}
    words = all_text(card)
    assert "%" not in words
    for lead in unmatched[:30]:
        assert f"• {lead}" in words
    if len(unmatched) > 30:
        assert "• Unmatched lead 30" not in words and "and 10 more" in words
    if len(items) > 20:
        assert "and 5 more suggestions" in words
    if unmatched:  # the leads with no user at all come first
        first = next((lead for lead, user, _ in items if user is None), unmatched[0])
        assert f"link {first} to NAME IN TEAMS" in words
    if not items and not unmatched:
        assert "Every lead is linked" in words


def test_link_suggestions_say_likely_or_possible_with_action_counts():
    card = link_suggestions_card(LinkSuggestionView(
        items=[("D Copley", "David Copley", 90), ("Jancie Schofield", "Janice Schofield", 88)],
        counts={"D Copley": 7, "Jancie Schofield": 1}))
    words = all_text(card)
    assert "D Copley · 7 actions" in words and "Jancie Schofield · 1 action" in words
    assert "→ David Copley (likely match)" in words
    assert "→ Janice Schofield (possible match)" in words


def test_ambiguous_leads_have_a_confirm_per_candidate_in_one_action_set():
    card = link_suggestions_card(LinkSuggestionView(
        items=[], ambiguous=[("S Jackson", ["Sarah Jackson", "Simon Jackson"]),
                             ("J Smith", [f"J{n} Smith" for n in range(8)])]))
    assert_valid_card(card)
    assert "Several Teams users match" in all_text(card)
    sets = [n for n in walk(card) if n.get("type") == "ActionSet"]
    assert len(sets) == 2
    assert [(b["title"], b["data"]) for b in sets[0]["actions"]] == [
        ("Confirm Sarah Jackson", {"lead": "S Jackson", "user": "Sarah Jackson"}),
        ("Confirm Simon Jackson", {"lead": "S Jackson", "user": "Simon Jackson"})]
    assert all(b["verb"] == "people.link" for b in sets[0]["actions"])
    assert len(sets[1]["actions"]) == 5 and "and 3 more" in all_text(card)
