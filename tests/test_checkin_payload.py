"""The check-in submit payload: flat card data in, a typed CheckinSubmit or a SubmitInvalid out."""

from datetime import date

import pytest
from pydantic import ValidationError

from dialogs.checkin_payload import ActionAnswer, CheckinSubmit, SubmitInvalid

TOKEN = "tok_123-abc"


def card(**fields) -> dict:
    """Data as Teams sends it for an Action.Submit: the inputs merged into the action's data.
    The Amber comes with what Red or Amber needs: a corrective action and a next review date."""
    base = {"verb": "checkin.submit", "token": TOKEN, "rag_12": "amber", "progress_12": "",
            "corrective_12": "Weekly case audits", "review_12": "2026-12-14",
            "evidence_12": "", "blockers_12": "", "nochange_12": "false"}
    return {**base, **fields}


GOOD = [
    ("action.submit", card(progress_12="  Audits done in 2 of 3 teams.  "),
     {12: dict(rag="amber", progress="Audits done in 2 of 3 teams.", evidence=None,
               blockers=None, no_change=False, corrective_action="Weekly case audits",
               next_review=date(2026, 12, 14))}),
    ("action.execute without verb", {k: v for k, v in card().items() if k != "verb"},
     {12: dict(rag="amber", progress=None, no_change=False)}),
    ("msteams block ignored", card(msteams={"type": "messageBack", "displayText": "x"}),
     {12: dict(rag="amber")}),
    ("rag upper case", card(rag_12="RED"), {12: dict(rag="red")}),
    ("rag single letter", card(rag_12="R"), {12: dict(rag="red")}),
    ("rag title case with spaces", card(rag_12=" Amber "), {12: dict(rag="amber")}),
    ("rag blank", card(rag_12=""), {12: dict(rag=None)}),
    ("blue with evidence", card(rag_12="Blue", evidence_12="https://intranet/audit.pdf"),
     {12: dict(rag="blue", evidence="https://intranet/audit.pdf")}),
    ("sql and html kept as text",
     card(progress_12="'); DROP TABLE action;-- <script>alert(1)</script>",
          blockers_12="<img src=x onerror=alert(1)>"),
     {12: dict(progress="'); DROP TABLE action;-- <script>alert(1)</script>",
               blockers="<img src=x onerror=alert(1)>")}),
    ("emoji and accents", card(progress_12="Signed off ✅🎉 by the Directeur général"),
     {12: dict(progress="Signed off ✅🎉 by the Directeur général")}),
    ("no change with other fields kept", card(nochange_12="true", progress_12="Still waiting"),
     {12: dict(no_change=True, progress="Still waiting", rag="amber")}),
    ("toggle blank means off", card(nochange_12=""), {12: dict(no_change=False)}),
    ("nul and control characters dropped", card(progress_12="a\x00b\x07c\nd"),
     {12: dict(progress="abc\nd")}),
    ("strings at the limit", card(progress_12="p" * 4000, evidence_12="e" * 2000,
                                  blockers_12="b" * 2000, corrective_12="c" * 2000),
     {12: dict(progress="p" * 4000, evidence="e" * 2000, blockers="b" * 2000,
               corrective_action="c" * 2000)}),
    ("two actions, some keys missing", card(rag_13="green", progress_13="ok"),
     {12: dict(rag="amber"), 13: dict(rag="green", progress="ok", evidence=None,
                                      no_change=False)}),
    ("longest token", card(token="A" * 64), {12: dict(rag="amber")}),
]


@pytest.mark.parametrize("data, expected", [(d, e) for _, d, e in GOOD],
                         ids=[name for name, _, _ in GOOD])
def test_good_payloads(data, expected):
    submit = CheckinSubmit.from_card_data(data)
    assert submit.verb == "checkin.submit" and submit.token == data["token"]
    answers = {answer.action_id: answer for answer in submit.answers}
    assert set(answers) == set(expected)
    for action_id, fields in expected.items():
        for name, value in fields.items():
            assert getattr(answers[action_id], name) == value, name


BLUE = "Blue means achieved and evidenced: add the evidence (a document, link or report)"
BAD = [
    ("missing token", {k: v for k, v in card().items() if k != "token"}, None, "token is missing"),
    ("empty token", card(token=""), None, "token is not valid"),
    ("token with bad characters", card(token="abc; DROP"), None, "token is not valid"),
    ("token too long", card(token="A" * 65), None, "token"),
    ("token not text", card(token=12), None, "token must be text"),
    ("wrong verb", card(verb="checkin.refresh"), None, "not a check-in submit"),
    ("verb not text", card(verb=["checkin.submit"]), None, "action must be text"),
    ("unknown key", card(admin="true"), None, "unknown field 'admin'"),
    ("unknown input kind", card(impact_12="red"), None, "unknown field 'impact_12'"),
    ("action id not digits", card(rag_abc="red"), None, "not a number"),
    ("action id negative", card(**{"rag_-1": "red"}), None, "not a number"),
    ("action id unicode digits", card(**{"rag_١٢": "red"}), None, "not a number"),
    ("action id too big", card(rag_12345678901="red"), None, "not a number"),
    ("action id zero", card(rag_0="red"), 0, "not on your check-in"),
    ("rag purple", card(rag_12="purple"), 12, "RAG rating: choose Red, Amber, Green or Blue"),
    ("rag emoji", card(rag_12="🔴"), 12, "choose Red, Amber, Green or Blue"),
    ("nested dict value", card(progress_12={"$gt": ""}), None, "'progress_12' must be text"),
    ("list value", card(rag_12=["red"]), None, "'rag_12' must be text"),
    ("number value", card(nochange_12=1), None, "must be text"),
    ("null value", card(evidence_12=None), None, "must be text"),
    ("progress over 4000", card(progress_12="p" * 4001), 12,
     "Progress is too long: at most 4000 characters"),
    ("evidence over 2000", card(evidence_12="e" * 2001), 12, "Evidence is too long"),
    ("blockers megabyte", card(blockers_12="b" * 1_000_000), 12, "Blockers is too long"),
    ("corrective over 2000", card(corrective_12="c" * 2001), 12,
     "Corrective action is too long: at most 2000 characters"),
    ("review not a date", card(review_12="next week"), 12,
     "Next review date: choose a date from the calendar (YYYY-MM-DD)"),
    ("review a day that does not exist", card(review_12="2026-02-30"), 12,
     "Next review date: choose a date from the calendar"),
    ("review not text", card(review_12=20261214), None, "'review_12' must be text"),
    ("toggle nonsense", card(nochange_12="maybe"), 12, "No change this week must be on or off"),
    ("blue without evidence", card(rag_12="blue"), 12, BLUE),
    ("blue with blank evidence", card(rag_12="B", evidence_12="   "), 12, BLUE),
    ("blue, no change, no evidence", card(rag_12="blue", nochange_12="true"), 12, BLUE),
    ("no answers at all", {"verb": "checkin.submit", "token": TOKEN}, None, "no answers"),
    ("too many actions", {"token": TOKEN, **{f"rag_{n}": "red" for n in range(1, 60)}}, None,
     "at most 50"),
    ("not a dict", ["token", TOKEN], None, "no data"),
]


@pytest.mark.parametrize("data, key, words", [(d, k, w) for _, d, k, w in BAD],
                         ids=[name for name, *_ in BAD])
def test_hostile_payloads_raise_submit_invalid(data, key, words):
    with pytest.raises(SubmitInvalid) as caught:
        CheckinSubmit.from_card_data(data)
    error = caught.value
    assert key in error.errors, error.errors
    assert words in error.errors[key]
    assert error.message and str(error) == error.message
    assert "pydantic" not in error.message and "input_value" not in error.errors[key]
    assert len(error.errors[key]) < 400  # never echoes a huge input back


def test_every_bad_action_is_reported_at_once():
    data = card(rag_12="blue", rag_13="purple", progress_14="x" * 5000, rag_15="green")
    with pytest.raises(SubmitInvalid) as caught:
        CheckinSubmit.from_card_data(data)
    assert set(caught.value.errors) == {12, 13, 14}
    assert caught.value.message == "Please fix the 3 items marked below."
    assert "2.4" not in caught.value.errors[12]  # the handler adds refs


def test_card_and_action_errors_together():
    with pytest.raises(SubmitInvalid) as caught:
        CheckinSubmit.from_card_data(card(token="bad token", rag_12="purple"))
    assert set(caught.value.errors) == {None, 12}
    assert "token" in caught.value.message


def test_answer_model_applies_the_same_rules():
    assert ActionAnswer(action_id=3, rag="G").rag == "green"
    with pytest.raises(ValidationError):
        ActionAnswer(action_id=3, rag="blue")
    with pytest.raises(ValidationError):
        ActionAnswer(action_id=3, progress=5)
    assert ActionAnswer(action_id=3, progress="   ").progress is None
