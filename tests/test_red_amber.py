"""Issue 8: a Red or Amber needs the corrective action and the date it will next be reviewed
(Blue needs evidence; a next review date in the past is refused), on the check-in card, in chat,
in storage and in the exports."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from cards.checkin import RecordedActionView, RecordedView, card_kb, checkin_card, recorded_card
from dialogs.checkin_payload import ActionAnswer, CheckinSubmit, SubmitInvalid
from dialogs.commands import labelled_parts, read_day
from storage.export.render import render
from storage.models import Action, Plan, StatusUpdate
from tests import test_checkin_flow as flow
from tests.cardcheck import assert_valid_card
from tests.fakes import teams
from tests.test_checkin_cards import MRI, action, all_text, blocks, by_id, inputs, view, walk
from tests.test_checkin_payload import card as payload

world = flow.world  # the bot over HTTP, a fake Bot Connector and the Manchester plan
TODAY = flow.NOW.date()  # Monday 23 November 2026
NEEDS = "Red or Amber needs"


# --- the payload -------------------------------------------------------------------------------

def refused(data: dict, **context) -> dict:
    with pytest.raises(SubmitInvalid) as caught:
        CheckinSubmit.from_card_data(data, **context)
    return caught.value.errors


def answer(data: dict, **context) -> ActionAnswer:
    [only] = CheckinSubmit.from_card_data(data, **context).answers
    return only


def test_red_without_a_corrective_action_is_refused_naming_it():
    errors = refused(payload(rag_12="red", corrective_12=""))
    assert errors[12].startswith(f"{NEEDS} the corrective action:")
    assert "review date" not in errors[12].split(":")[0]


def test_amber_without_a_review_date_is_refused_naming_it():
    errors = refused(payload(rag_12="amber", review_12=""))
    assert errors[12].startswith(f"{NEEDS} the next review date:")
    assert "corrective" not in errors[12]


@pytest.mark.parametrize("rag", ["red", "Amber", "R", "a"])
def test_both_missing_are_both_named(rag):
    errors = refused(payload(rag_12=rag, corrective_12="  ", review_12=""))
    assert errors[12].startswith(f"{NEEDS} the corrective action and the next review date:")
    assert "pydantic" not in errors[12] and len(errors[12]) < 400


def test_red_with_both_is_valid_and_keeps_them():
    got = answer(payload(rag_12="red", corrective_12="  Weekly case audits\x00 ",
                         review_12="2026-12-14"))
    assert (got.rag, got.corrective_action, got.next_review) == ("red", "Weekly case audits",
                                                                 date(2026, 12, 14))


def test_no_change_with_red_or_amber_needs_neither():
    for rag in ("red", "amber"):
        got = answer(payload(rag_12=rag, nochange_12="true", corrective_12="", review_12=""))
        assert got.no_change and got.rag == rag and got.corrective_action is None


def test_a_red_left_as_the_card_showed_it_is_no_change():
    """The card shows the stored RAG: an action left untouched is not a new Red."""
    untouched = payload(rag_12="red", corrective_12="", review_12="")
    assert answer(untouched, stored_rags={12: "red"}).rag == "red"
    assert NEEDS in refused(untouched, stored_rags={12: "green"})[12]  # a new Red
    assert NEEDS in refused(untouched)[12]  # nothing known about the action: a Red
    typed = {**untouched, "progress_12": "Audit slipped again"}
    assert NEEDS in refused(typed, stored_rags={12: "red"})[12]  # it says something: needs both
    half = {**untouched, "corrective_12": "Weekly audits"}
    assert refused(half, stored_rags={12: "red"})[12].startswith(f"{NEEDS} the next review date")


@pytest.mark.parametrize("text", ["next week", "14/12/2026", "2026-02-30", "2026-13-01",
                                  "2026-12-14T09:00", "20261214"])
def test_an_unreadable_review_date_is_a_clear_error(text):
    errors = refused(payload(rag_12="amber", review_12=text))
    assert errors[12] == "Next review date: choose a date from the calendar (YYYY-MM-DD)."


def test_a_review_date_in_the_past_is_refused_today_is_fine():
    errors = refused(payload(review_12="2026-11-22"), today=TODAY)
    assert errors[12] == "Next review date: choose today or a later day."
    assert answer(payload(review_12="2026-11-23"), today=TODAY).next_review == TODAY
    past_no_change = payload(rag_12="green", nochange_12="true", review_12="2020-01-01")
    assert "choose today" in refused(past_no_change, today=TODAY)[12]


def test_every_problem_of_every_action_is_reported_at_once():
    data = payload(rag_12="red", corrective_12="", rag_13="amber", corrective_13="Audits",
                   review_13="2026-01-05", rag_14="blue", rag_15="green")
    errors = refused(data, today=TODAY)
    assert set(errors) == {12, 13, 14}
    assert errors[12].startswith(f"{NEEDS} the corrective action:")
    assert "choose today or a later day" in errors[13] and "Blue means" in errors[14]


@pytest.mark.parametrize("fields", [dict(rag="green"), dict(rag="blue", evidence="report.pdf"),
                                    dict(rag=None, progress="Nothing to say")])
def test_green_and_blue_need_neither(fields):
    got = ActionAnswer(action_id=1, **fields)
    assert got.corrective_action is None and got.next_review is None
    with pytest.raises(ValueError, match=NEEDS):
        ActionAnswer(action_id=1, **{**fields, "rag": "amber", "evidence": None})


# --- the card ----------------------------------------------------------------------------------

FIFTEEN = view([action(n, long=True) for n in range(1, 16)], user_mri=MRI, not_shown=20)


def test_every_action_asks_for_the_corrective_action_and_review_date():
    card = checkin_card(FIFTEEN)
    assert_valid_card(card)
    assert card_kb(card) < 80
    assert len(blocks(card)) == 15  # the two new inputs leave room for all fifteen actions
    found = inputs(card)
    for n in range(1, 16):
        corrective, review = found[f"corrective_{n}"], found[f"review_{n}"]
        assert corrective["type"] == "Input.Text" and corrective["maxLength"] == 2000
        assert "corrective action" in corrective["label"].lower()
        assert review["type"] == "Input.Date" and "review" in review["label"].lower()
        assert by_id(card, f"more_{n}")["isVisible"] is False  # not behind the toggle
        assert f"corrective_{n}" not in json.dumps(by_id(card, f"more_{n}"))


def test_typed_answers_and_dates_are_refilled_only_as_dates():
    card = checkin_card(view([action(1), action(2), action(3)], values={
        "corrective_1": "Weekly audits <b>", "review_1": "2026-12-14",
        "review_2": "next week", "review_3": "2026-12-14T00:00:00Z"}))
    assert_valid_card(card)
    found = inputs(card)
    assert found["corrective_1"]["value"] == "Weekly audits <b>"
    assert found["review_1"]["value"] == "2026-12-14"
    assert found["review_2"].get("value", "") == ""  # a date picker cannot show other text
    assert found["review_3"]["value"] == "2026-12-14"


@pytest.mark.parametrize("message", [
    "2.1: Red or Amber needs the next review date: the improvement board asks what is being "
    "done and when it will be looked at again.",
    "2.1: Next review date: choose today or a later day.",
    "Next review date: choose a date from the calendar (YYYY-MM-DD).",
    "Corrective action is too long: at most 2000 characters."])
def test_the_error_goes_under_the_corrective_action_and_review_date(message):
    card = checkin_card(view([action(1), action(2)], errors={1: message},
                             values={"rag_1": "red", "corrective_1": "Weekly audits"}))
    assert_valid_card(card)
    items = blocks(card)[0]["items"]
    [at] = [i for i, item in enumerate(items) if "corrective_1" in json.dumps(item)]
    error = items[at + 1]
    assert error["color"] == "Attention" and message.removeprefix("2.1: ") == error["text"]
    assert "review_1" in json.dumps(items[at])  # the date is in the same row as the action
    assert [n for n in walk(card) if n.get("color") == "Attention"] == [card["body"][2], error]
    assert card["body"][2]["text"] == "Nothing was saved: please check 2.1 below."
    assert by_id(card, "more_1")["isVisible"] is False  # no reason to open evidence


def test_the_receipt_shows_the_corrective_action_and_review_date():
    card = recorded_card(RecordedView(
        lead_name="Karen Dolton", plan_name="Plan", period_label="week of 23 November 2026",
        recorded_at_label="23 November 2026 at 09:00", actions=[RecordedActionView(
            ref="3a", title="Audit", rag="red", progress="Audit slipped",
            corrective_action="Weekly case audits", next_review=date(2026, 12, 14))]))
    assert_valid_card(card)
    facts = {f["title"]: f["value"] for n in walk(card) if n.get("type") == "FactSet"
             for f in n["facts"]}
    assert facts == {"Progress": "Audit slipped", "Corrective action": "Weekly case audits",
                     "Next review": "14 Dec 2026"}


# --- the card over HTTP ------------------------------------------------------------------------

async def submit(w, data: dict) -> dict:
    body = await (await w.post(teams.card_execute(w.url, "checkin.submit", data))).json()
    assert body["statusCode"] == 200 and body["type"].endswith("card.adaptive"), body
    assert_valid_card(body["value"])
    return body["value"]


async def test_red_with_corrective_and_review_is_stored_once(world):
    card = await flow.karen_card(world)
    a3 = await flow.first_action_id(world, "3a")
    data = flow.answers(card, {f"rag_{a3}": "red", f"progress_{a3}": "Audit slipped",
                               f"corrective_{a3}": "Weekly case audits",
                               f"review_{a3}": "2026-12-14"})
    receipt = await submit(world, data)
    assert "Recorded" in all_text(receipt) and "Weekly case audits" in json.dumps(receipt)
    assert "14 Dec 2026" in json.dumps(receipt, ensure_ascii=False)
    [update] = await world.updates()
    assert (update.action_id, update.rag, update.progress, update.corrective_action,
            update.next_review) == (a3, "red", "Audit slipped", "Weekly case audits",
                                    date(2026, 12, 14))
    await submit(world, data)  # a double click: still one row
    assert len(await world.updates()) == 1
    # The same card sent again with a different corrective action is a new answer, not a
    # double click: it is stored (its idempotency key includes the corrective action).
    await submit(world, {**data, f"corrective_{a3}": "Daily case audits"})
    assert [u.corrective_action for u in await world.updates()] == ["Weekly case audits",
                                                                   "Daily case audits"]


async def test_a_refused_red_keeps_the_card_and_what_was_typed(world):
    card = await flow.karen_card(world)
    a3, a4 = await flow.first_action_id(world, "3a"), await flow.first_action_id(world, "4a")
    data = flow.answers(card, {f"rag_{a3}": "red", f"progress_{a3}": "Audit slipped to May",
                               f"corrective_{a3}": "Weekly case audits",
                               f"rag_{a4}": "green", f"progress_{a4}": "Backlog cleared"})
    again = await submit(world, data)
    assert again["actions"][0]["data"]["token"] == flow.token_of(card)  # the same card
    assert again["actions"][0]["verb"] == "checkin.submit"
    found = inputs(again)
    assert found[f"rag_{a3}"]["value"] == "red"
    assert found[f"progress_{a3}"]["value"] == "Audit slipped to May"
    assert found[f"corrective_{a3}"]["value"] == "Weekly case audits"
    assert found[f"progress_{a4}"]["value"] == "Backlog cleared"  # the other answers too
    [block] = [b for b in blocks(again) if f"corrective_{a3}" in json.dumps(b)]
    [at] = [i for i, item in enumerate(block["items"])
            if f"corrective_{a3}" in json.dumps(item)]
    error = block["items"][at + 1]
    assert error["color"] == "Attention"
    assert error["text"].startswith(f"{NEEDS} the next review date")
    assert "3a" in again["body"][2]["text"] and "Nothing was saved" in again["body"][2]["text"]
    assert await world.updates() == []  # not even 4a's Green: nothing is saved by halves
    assert (await world.checkin_of("Karen Dolton")).status == "sent"


async def test_a_past_review_date_is_refused_and_nothing_stored(world):
    card = await flow.karen_card(world)
    a3 = await flow.first_action_id(world, "3a")
    data = flow.answers(card, {f"rag_{a3}": "amber", f"corrective_{a3}": "Weekly case audits",
                               f"review_{a3}": "2026-11-22"})  # the day before NOW
    again = await submit(world, data)
    assert "Next review date: choose today or a later day." in all_text(again)
    assert inputs(again)[f"review_{a3}"]["value"] == "2026-11-22"
    assert await world.updates() == []
    data[f"review_{a3}"] = "2026-11-23"  # today
    assert "Recorded" in all_text(await submit(world, data))
    [update] = await world.updates()
    assert update.next_review == TODAY


async def test_an_untouched_card_with_reds_is_answered_and_stores_nothing(world):
    card = await flow.karen_card(world)
    shown = {node["value"] for node in walk(card) if str(node.get("id", "")).startswith("rag_")
             and "value" in node}
    assert {"red", "amber"} <= shown  # Karen's actions as the plan rates them
    receipt = await submit(world, flow.answers(card, {}))
    assert "Recorded" in all_text(receipt)
    assert await world.updates() == []
    assert (await world.checkin_of("Karen Dolton")).status == "answered"


# --- chat --------------------------------------------------------------------------------------

async def say(w, text: str) -> str:
    await w.post(teams.personal_message(w.url, text))
    return w.fake.messages()[-1]["text"]


async def test_chat_red_without_corrective_is_refused_with_an_example(world):
    reply = await say(world, "update 3a red: audit booked")
    assert reply == (f"{NEEDS} the corrective action and the next review date, for example: "
                     "update 3a red: audit booked; corrective: weekly case audits; review: "
                     "12 December. Nothing was changed.")
    reply = await say(world, "update 3a amber: audit booked; corrective: weekly audits")
    assert reply.startswith(f"{NEEDS} the next review date, for example:")
    reply = await say(world, "update 3a amber: audit booked; review: 12 December")
    assert reply.startswith(f"{NEEDS} the corrective action, for example:")
    assert await world.updates("chat") == []


async def test_chat_amber_with_corrective_and_review_is_stored(world):
    reply = await say(world, "update 3a amber: audit booked; corrective: weekly audits; "
                             "review: 12 December")
    assert reply.startswith("Recorded 3a as Amber: audit booked")
    assert "Next review: Saturday 12 December 2026." in reply
    [update] = await world.updates("chat")
    assert (update.rag, update.progress, update.corrective_action, update.next_review) == (
        "amber", "audit booked", "weekly audits", date(2026, 12, 12))  # the next 12 December
    await say(world, "update 3a red: slipped; corrective action: daily audits; next review: "
                     "1 November")  # already gone this year: next year's
    assert (await world.updates("chat"))[-1].next_review == date(2027, 11, 1)


async def test_chat_green_still_works_and_review_is_just_a_word_there(world):
    assert (await say(world, "update 3a green: done")).startswith("Recorded 3a as Green: done")
    await say(world, "update 3a green: case file review - 40% done")
    first, second = await world.updates("chat")
    assert (first.rag, first.progress, first.corrective_action, first.next_review) == (
        "green", "done", None, None)
    assert (second.progress, second.next_review) == ("case file review - 40% done", None)


async def test_chat_review_date_unreadable_or_past_is_refused(world):
    reply = await say(world, "update 3a amber: audit booked; corrective: weekly audits; "
                             "review: when the panel meets")
    assert reply == ("I couldn't read the review date 'when the panel meets'. Try for example: "
                     "review: 12 December. Nothing was changed.")
    reply = await say(world, "update 3a amber: audit booked; corrective: weekly audits; "
                             "review: 1 November 2026")
    assert reply == ("The next review date 1 November 2026 has passed: choose today or a later "
                     "day. Nothing was changed.")
    assert await world.updates("chat") == []


async def test_the_cards_own_chat_example_is_accepted(world):
    """The check-in card tells leads with more actions how to update by chat: it must work."""
    card = checkin_card(view([action(1)], not_shown=3))
    example = card["body"][-1]["text"].replace("2.1", "3a")
    assert example.startswith("update 3a amber:")
    assert (await say(world, example)).startswith("Recorded 3a as Amber")


@pytest.mark.parametrize("text, progress, parts", [
    ("audit booked; corrective: weekly audits; review: 12 December", "audit booked",
     {"corrective": "weekly audits", "review": "12 December"}),
    ("audit booked. Corrective action: weekly audits. Next review: 12 Dec", "audit booked",
     {"corrective": "weekly audits", "review": "12 Dec"}),
    ("audit booked, Corrective actions - weekly audits, review date: 14/12/2026", "audit booked",
     {"corrective": "weekly audits", "review": "14/12/2026"}),
    ("audit booked; corrective: weekly audits; next review 12 December", "audit booked",
     {"corrective": "weekly audits", "review": "12 December"}),  # no colon after the label
    ("audit booked corrective: weekly audits review: December 12", "audit booked",
     {"corrective": "weekly audits", "review": "December 12"}),  # one line, no semicolons
    ("audit booked; corrective: audits; review by 1st Dec; evidence: report.pdf", "audit booked",
     {"corrective": "audits", "review": "1st Dec", "evidence": "report.pdf"}),
    ("case file review - 40% done", "case file review - 40% done", {}),
    ("Peer review: done, the review 12 December went well",
     "Peer review: done, the review 12 December went well", {}),
    ("Review of files underway; corrective: x; review: next Friday", "Review of files underway",
     {"corrective": "x", "review": "next Friday"}),  # a review label, its date not readable
])
def test_chat_labels_a_council_user_would_type(text, progress, parts):
    assert labelled_parts(text, TODAY) == (progress, parts)


@pytest.mark.parametrize("text, day", [
    ("12 December", date(2026, 12, 12)), ("12 Dec", date(2026, 12, 12)),
    ("December 12", date(2026, 12, 12)), ("Dec 12th", date(2026, 12, 12)),
    ("Friday 11 December", date(2026, 12, 11)), ("1st Dec", date(2026, 12, 1)),
    ("12/12", date(2026, 12, 12)), ("1/1", date(2027, 1, 1)), ("14/12/2026", date(2026, 12, 14)),
    ("14-12-2026", date(2026, 12, 14)), ("2026-12-14", date(2026, 12, 14)),
    ("23 November", TODAY), ("22 November", date(2027, 11, 22)),
    ("next Friday", None), ("1.5 weeks", None), ("when the panel meets", None)])
def test_review_dates_as_people_write_them(text, day):
    assert read_day(text, TODAY) == day


# --- exports -----------------------------------------------------------------------------------

async def test_exports_hold_the_corrective_action_and_next_review(world):
    await say(world, "update 3a amber: audit booked; corrective: weekly audits; "
                     "review: 12 December")
    async with world.sessions() as session:
        plan = (await session.execute(select(Plan))).scalar_one()
        document = json.loads((await render(session=session, plan=plan, fmt="json",
                                            as_of=TODAY)).content)
        book = load_workbook(io.BytesIO((await render(session=session, plan=plan, fmt="xlsx",
                                                      as_of=TODAY)).content))
        stored = (await session.execute(select(StatusUpdate).join(Action).where(
            Action.ref == "3a", StatusUpdate.source == "chat"))).scalar_one()
    [exported] = [a for a in document["actions"] if a["ref"] == "3a"]
    latest = exported["updates"][-1]
    assert (latest["corrective_action"], latest["next_review"]) == ("weekly audits",
                                                                    "2026-12-12")
    assert latest["progress"] == stored.progress == "audit booked"
    others = [u for a in document["actions"] if a["ref"] != "3a" for u in a["updates"]]
    assert all(u["corrective_action"] is None and u["next_review"] is None for u in others)
    tracker = book["Tracker"]
    header = [cell.value for cell in tracker[1]]
    row = next(r for r in tracker.iter_rows(min_row=2, values_only=True) if r[1] == "3a")
    assert row[header.index("RAG")] == "Amber"
    assert row[header.index("Corrective action")] == "weekly audits"
    assert row[header.index("Next review")] == "2026-12-12"
    history = book["History"]
    columns = [cell.value for cell in history[1]]
    last = [r for r in history.iter_rows(min_row=2, values_only=True) if r[0] == "3a"][-1]
    assert (last[columns.index("Corrective action")], last[columns.index("Next review")]) == (
        "weekly audits", "2026-12-12")
