"""Every card the bot can send validates against Adaptive Cards 1.5 (../shared/tools)."""

import json

import pytest

from cards.common import cut_words, rag_word
from cards.help import HelpView, PlanLine, help_card
from tests.cardcheck import assert_valid_card

MANY = [PlanLine(name=f"Plan {n} – Children’s Services & SEND", organisation="Council", actions=n)
        for n in range(15)]
REAL = [PlanLine(name="Rochdale Improvement Notice 2014",
                 organisation="Rochdale Metropolitan Borough Council", actions=15),
        PlanLine(name="Children's Services Improvement Plan", organisation="Tameside Council",
                 actions=31)]


def texts(card: dict) -> list[str]:
    return [block["text"] for block in card["body"] if block["type"] == "TextBlock"]


def plan_lines(card: dict) -> list[str]:
    return [line for line in texts(card) if line.startswith("• ") and " — " in line]


@pytest.mark.parametrize("view", [
    HelpView(),
    HelpView(plans=MANY[:1]),
    HelpView(plans=MANY, is_channel=True),
    HelpView(plans=REAL, example_ref="3a"),
    HelpView(plans=REAL, example_ref=None),
], ids=["no plans", "one plan", "many plans in a channel", "real plans", "no example ref"])
def test_help_card_is_valid(view):
    card = help_card(view)
    assert_valid_card(card)
    assert card["version"] == "1.5"
    assert "`" not in json.dumps(card, ensure_ascii=False)  # Teams card markdown has no code


def test_help_card_lists_at_most_ten_plans_as_a_compact_list():
    card = help_card(HelpView(plans=MANY))
    lines = plan_lines(card)
    assert len(lines) == 10
    assert lines[3] == "• Plan 3 – Children’s Services & SEND — 3 actions (Council)"
    assert "and 5 more" in " ".join(texts(card))
    facts = [fact["title"] for block in card["body"] if block["type"] == "FactSet"
             for fact in block["facts"]]
    assert facts == ["Leads", "Managers", "Boards", "Admins"]  # plans are not a FactSet


def test_help_card_does_not_repeat_the_organisation_the_plan_name_gives():
    lines = plan_lines(help_card(HelpView(plans=REAL)))
    assert lines == ["• Rochdale Improvement Notice 2014 — 15 actions",
                     "• Children's Services Improvement Plan — 31 actions (Tameside Council)"]


def test_every_example_has_a_button_and_uses_the_plans_ref():
    card = help_card(HelpView(plans=REAL, example_ref="3a"))
    asked = [action["data"]["msteams"]["value"] for action in card["actions"]]
    assert len(asked) == 5 and "show 3a" in asked
    for question in asked:
        assert f"• “{question}”" in texts(card)
    default = help_card(HelpView())
    assert "show 2.4" in [a["data"]["msteams"]["value"] for a in default["actions"]]
    assert "“planbot import FILE”" in " ".join(texts(default))


def test_channel_hint_only_in_a_channel():
    hint = "“@planbot what's overdue?”"
    assert any(hint in line for line in texts(help_card(HelpView(is_channel=True))))
    assert not any(hint in line for line in texts(help_card(HelpView())))


def test_rag_words_and_word_cuts():
    assert [rag_word(r) for r in ("red", "Amber", "green", "BLUE", None, "purple")] == [
        "🔴 Red", "🟠 Amber", "🟢 Green", "🔵 Blue", None, None]
    assert cut_words("short", 10) == "short"
    assert cut_words("Additional capacity recruited for a temporary period", 40) == (
        "Additional capacity recruited…")  # cut at a word, without a dangling "for a"
    assert cut_words("one\n\ntwo   three", 50) == "one two three"
    assert len(cut_words("x" * 500, 40)) == 40


def test_validator_catches_a_broken_card():
    broken = help_card(HelpView())
    broken["body"].append({"type": "TextBlock"})  # a TextBlock needs text
    with pytest.raises(AssertionError):
        assert_valid_card(broken)
