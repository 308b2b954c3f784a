"""Every card the bot can send validates against Adaptive Cards 1.5 (../shared/tools)."""

import pytest

from cards.help import HelpView, PlanLine, help_card
from tests.cardcheck import assert_valid_card

MANY = [PlanLine(name=f"Plan {n} – Children’s Services & SEND", organisation="Council", actions=n)
        for n in range(15)]


@pytest.mark.parametrize("view", [
    HelpView(),
    HelpView(plans=MANY[:1]),
    HelpView(plans=MANY, is_channel=True),
], ids=["no plans", "one plan", "many plans in a channel"])
def test_help_card_is_valid(view):
    card = help_card(view)
    assert_valid_card(card)
    assert card["version"] == "1.5"


def test_help_card_lists_at_most_ten_plans():
    facts = [block for block in help_card(HelpView(plans=MANY))["body"]
             if block["type"] == "FactSet"][-1]["facts"]
    assert len(facts) == 10


def test_validator_catches_a_broken_card():
    broken = help_card(HelpView())
    broken["body"].append({"type": "TextBlock"})  # a TextBlock needs text
    with pytest.raises(AssertionError):
        assert_valid_card(broken)
