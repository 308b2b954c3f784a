"""The Teams activity handler: turns botbuilder activities into dialog calls (thin layer)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.schema import Activity, ChannelAccount

from bot.proactive import base_conversation_id, store_reference
from cards.common import CONTENT_TYPE, message_card
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.people import auto_link, upsert_person

log = logging.getLogger(__name__)
INVOKE_CARD = "application/vnd.microsoft.card.adaptive"
INVOKE_ERROR = "application/vnd.microsoft.error"


def reply_activities(reply: Reply) -> list[Activity]:
    """The messages that carry a Reply: text first, then one message per card."""
    activities: list[Activity] = []
    if reply.text and not reply.cards:
        activities.append(MessageFactory.text(reply.text))
    for index, card in enumerate(reply.cards):
        attachment = CardFactory.adaptive_card(card)
        attachment.content_type = CONTENT_TYPE
        text = reply.text if index == 0 else None
        activities.append(MessageFactory.attachment(attachment, text=text))
    return activities


def invoke_problem(value: object) -> str | None:
    """Why an adaptiveCard/action invoke's value cannot be handled; None when it can."""
    if not isinstance(value, dict):
        return "the card action sent no value"
    action = value.get("action")
    if not isinstance(action, dict):
        return "the card action names no action"
    if action.get("type") != "Action.Execute":
        return f"the card action type {str(action.get('type'))[:40]!r} is not supported"
    return None


def invoke_error(message: str) -> dict:
    """A typed 'bad request' answer to a card action (HTTP 200; Teams reads statusCode)."""
    return {"statusCode": 400, "type": INVOKE_ERROR,
            "value": {"code": "BadRequest", "message": message}}


class SentJson(dict):
    """JSON that is finished when it is answered: botbuilder deep-copies every activity it sends,
    the invoke response too, and a copy of a finished answer may be the answer itself (a
    check-in receipt is some 900 objects to copy otherwise)."""

    def __deepcopy__(self, memo: dict) -> SentJson:
        return self


def invoke_card(card: dict) -> dict:
    """The adaptiveCard/action answer that replaces the clicked card for the clicker.

    Plain JSON, as Teams reads it: botbuilder would pass an AdaptiveCardInvokeResponse through
    msrest's serializer, which walks every node of the card (a fifth of a submission's CPU).
    """
    return SentJson(statusCode=200, type=INVOKE_CARD, value=card)


def conversation_type(context: TurnContext) -> str:
    """personal, channel or groupChat, as Teams labels the conversation."""
    kind = getattr(context.activity.conversation, "conversation_type", None) or "personal"
    return kind if kind in ("personal", "channel", "groupChat") else "personal"


def turn_of(context: TurnContext, text: str, value: dict | None = None) -> Turn:
    """The botbuilder-free view of this turn that dialogs work with."""
    user: ChannelAccount = context.activity.from_property or ChannelAccount()
    kind = conversation_type(context)
    conversation = context.activity.conversation
    return Turn(text=text, conversation_type=kind,
                user_name=user.name, user_aad_id=getattr(user, "aad_object_id", None),
                user_id=user.id, value=value,
                conversation_id=base_conversation_id(conversation.id, kind)
                if conversation and conversation.id else None,
                activity_id=context.activity.id or None)


class PlanBot(TeamsActivityHandler):
    """Routes messages, card submits and installs to dialogs."""

    REMEMBERED_FOR = timedelta(minutes=5)
    REMEMBERED_MAX = 20000

    def __init__(self, router: Router, deps: Deps) -> None:
        self.router = router
        self.deps = deps
        # Who wrote from where, and when it was last stored: an unchanged sender and reference
        # is not written again on every turn (every write takes SQLite's one write lock).
        self._remembered: OrderedDict[tuple, datetime] = OrderedDict()

    async def on_turn(self, turn_context: TurnContext) -> None:
        """Remember who wrote and where (for proactive cards), then handle the activity."""
        await self._remember(turn_context)
        await super().on_turn(turn_context)

    async def _remember(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        user = activity.from_property
        if activity.channel_id != "msteams" or activity.conversation is None:
            return
        if activity.type == "installationUpdate" and (activity.action or "").startswith("remove"):
            return
        now = self.deps.clock()
        conversation = activity.conversation
        key = (conversation.id, conversation.conversation_type, conversation.tenant_id,
               activity.service_url, activity.type,
               getattr(activity.recipient, "id", None), getattr(user, "id", None),
               getattr(user, "name", None), getattr(user, "aad_object_id", None))
        stored = self._remembered.get(key)
        if stored is not None and now - stored < self.REMEMBERED_FOR:
            return
        async with self.deps.sessions() as session, session.begin():
            person = None
            if user is not None and user.id and (activity.conversation.conversation_type
                                                  or "personal") == "personal":
                person = await upsert_person(
                    session=session, display_name=user.name, teams_user_id=user.id,
                    aad_object_id=getattr(user, "aad_object_id", None), email=None, now=now)
            await store_reference(session=session, activity=activity,
                                  person_id=person.id if person else None, now=now)
        self._remembered[key] = now
        self._remembered.move_to_end(key)
        while len(self._remembered) > self.REMEMBERED_MAX:
            self._remembered.popitem(last=False)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        """A typed message, an @mention in a channel, or an Action.Submit (message with value)."""
        activity = turn_context.activity
        value = activity.value if isinstance(activity.value, dict) else None
        if value is not None and not (activity.text or "").strip():
            reply = await self._submit(turn_context, value)
            if reply.replace and reply.cards and activity.reply_to_id:
                await self._replace_card(turn_context, reply)
                return
        else:
            text = TurnContext.remove_recipient_mention(activity) if activity.entities else None
            text = (text if text is not None else activity.text) or ""
            reply = await self.router.route_text(turn_of(turn_context, text), self.deps)
        await turn_context.send_activities(reply_activities(reply))

    async def _replace_card(self, turn_context: TurnContext, reply: Reply) -> None:
        """Action.Submit: put the answer card in place of the card that was clicked."""
        [replacement, *rest] = reply_activities(Reply(cards=reply.cards[:1]))
        replacement.id = turn_context.activity.reply_to_id
        replacement.type = "message"
        await turn_context.update_activity(replacement)
        if reply.text or rest:
            await turn_context.send_activities(
                reply_activities(Reply(text=reply.text, cards=reply.cards[1:])))

    async def _submit(self, turn_context: TurnContext, value: dict) -> Reply:
        verb = value.get("verb") or value.get("action")
        if isinstance(verb, str) and self.router.has_verb(verb):
            return await self.router.route_verb(verb, turn_of(turn_context, "", value), self.deps)
        return Reply(text="That card is out of date or not one of mine; type 'help' to start "
                          "again.")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """Answer Action.Execute (adaptiveCard/action) here; other invokes go to the base class.

        botbuilder 4.17 crashes on a non-object `action` (AttributeError) and answers other bad
        values with an error body that cannot be serialized (an Exception as its value): both
        became HTTP 500s. So the value is checked here, and the answer is plain JSON.
        """
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        problem = invoke_problem(activity.value)
        body = (invoke_error(problem) if problem is not None
                else await self._card_action(turn_context, activity.value["action"]))
        return InvokeResponse(status=200, body=body)

    async def _card_action(self, turn_context: TurnContext, action: dict) -> dict:
        """Action.Execute: route on the verb; the reply card replaces the card for the clicker."""
        verb = action.get("verb")
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        if not isinstance(verb, str) or not self.router.has_verb(verb):
            return invoke_error(f"unknown card action {str(verb)[:60]!r}")
        reply = await self.router.route_verb(verb, turn_of(turn_context, "", data), self.deps)
        # A text answer travels as a one-message card that replaces the clicked card.
        return invoke_card(reply.cards[0] if reply.cards else message_card(reply.text or "Done."))

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        """The app was installed in a chat or team: learn the roster, say hello."""
        if conversation_type(turn_context) != "personal":
            await self._learn_roster(turn_context)
        await self._auto_link()
        await self._welcome(turn_context)

    async def _auto_link(self) -> None:
        """Link plan leads whose full name or email is exactly one known Teams user's."""
        async with self.deps.sessions() as session, session.begin():
            made = await auto_link(session=session)
        for lead, person_id in made:
            log.info("linked lead %r to person %s (exact match)", lead, person_id)

    async def _learn_roster(self, turn_context: TurnContext) -> None:
        """Store the team's members as people, so plan leads can be linked to them."""
        members, token = [], None
        try:
            while True:
                page = await TeamsInfo.get_paged_members(turn_context, token, 500)
                members.extend(page.members or [])
                token = page.continuation_token
                if not token:
                    break
        except Exception:
            log.exception("could not read the team roster; leads can still be linked by hand")
            return
        now = self.deps.clock()
        async with self.deps.sessions() as session, session.begin():
            for member in members:
                await upsert_person(
                    session=session, display_name=member.name or member.id,
                    teams_user_id=member.id, aad_object_id=member.aad_object_id,
                    email=member.email or member.user_principal_name, now=now)
        log.info("learned %d members of the team roster", len(members))

    async def on_members_added_activity(self, members_added, turn_context: TurnContext) -> None:
        """The bot joined a conversation outside Teams (Teams sends installationUpdate too)."""
        if turn_context.activity.channel_id == "msteams":
            return
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member.id == bot_id for member in members_added or []):
            await self._welcome(turn_context)

    async def _welcome(self, turn_context: TurnContext) -> None:
        reply = await self.router.route_text(turn_of(turn_context, "help"), self.deps)
        reply.text = "Hello! I'm planbot. Here is what I can do:"
        await turn_context.send_activities(reply_activities(reply))
