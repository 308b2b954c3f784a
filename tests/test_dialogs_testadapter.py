"""Dialog tests through botbuilder's TestAdapter (the turn pipeline without HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime

from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

from bot.teams_bot import PlanBot
from dialogs.context import Deps
from dialogs.help import build_router

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def template() -> Activity:
    return Activity(channel_id="msteams", service_url="https://test.invalid/",
                    from_property=ChannelAccount(id="29:karen", name="Karen Dolton",
                                                 aad_object_id="aad-karen"),
                    recipient=ChannelAccount(id="28:bot", name="planbot"),
                    conversation=ConversationAccount(id="a:karen", conversation_type="personal"))


def adapter_for(sessions) -> TestAdapter:
    bot = PlanBot(build_router(), Deps(sessions=sessions, clock=lambda: NOW))
    return TestAdapter(bot.on_turn, template_or_conversation=template())


async def test_help_answers_with_a_card(sessions):
    adapter = adapter_for(sessions)
    await adapter.receive_activity(Activity(type="message", text="help"))
    reply = adapter.get_next_activity()
    assert reply.attachments[0].content_type == "application/vnd.microsoft.card.adaptive"


async def test_snooze_remembers_the_person_first(sessions):
    adapter = adapter_for(sessions)
    await adapter.receive_activity(Activity(type="message", text="snooze until 1 Dec"))
    assert "no check-in cards for you until after Tuesday 01 December 2026" in (
        adapter.get_next_activity().text)


async def test_snooze_reads_a_month_first_date_as_this_december(sessions):
    adapter = adapter_for(sessions)  # "December 12" was read as December 2012
    await adapter.receive_activity(Activity(type="message", text="snooze until December 12"))
    assert "until after Saturday 12 December 2026" in adapter.get_next_activity().text


async def test_a_stale_checkin_submit_is_answered_politely(sessions):
    adapter = adapter_for(sessions)
    await adapter.receive_activity(Activity(
        type="message", value={"verb": "checkin.submit", "token": "gone"}, reply_to_id="c1"))
    assert "out of date" in adapter.get_next_activity().text
    assert adapter.updated_activities == []  # nothing to replace: no card of ours
