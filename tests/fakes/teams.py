"""Activity JSON as Microsoft Teams sends it to a bot (shapes copied from real Teams traffic)."""

from __future__ import annotations

import itertools

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT_ID = "28:0b4a3f6e-8d3c-4e1f-9a55-6c1d2e3f4a5b"
USER = {"id": "29:1XyZkarendolton", "name": "Karen Dolton",
        "aadObjectId": "6b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}
PERSONAL = {"conversationType": "personal", "tenantId": TENANT,
            "id": "a:1Hq8-personal-chat-with-karen"}
CHANNEL = {"isGroup": True, "conversationType": "channel", "tenantId": TENANT,
           "id": "19:4d5e6f@thread.tacv2;messageid=1732520000000", "name": "Improvement Board"}
_ids = itertools.count(1732520000001)


def user(name: str, number: int) -> tuple[dict, dict]:
    """Another Teams user and their 1:1 chat with the bot: (from account, conversation)."""
    account = {"id": f"29:1User{number:04d}", "name": name,
               "aadObjectId": f"00000000-0000-4000-8000-{number:012d}"}
    chat = {"conversationType": "personal", "tenantId": TENANT, "id": f"a:1Chat{number:04d}"}
    return account, chat


def _base(service_url: str, conversation: dict, *, who: dict | None = None, **extra) -> dict:
    activity = {
        "id": str(next(_ids)),
        "timestamp": "2026-11-25T09:00:00.000Z",
        "localTimestamp": "2026-11-25T09:00:00.000+00:00",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": dict(who or USER),
        "conversation": dict(conversation),
        "recipient": {"id": BOT_ID, "name": "planbot"},
        "locale": "en-GB",
        "localTimezone": "Europe/London",
        "channelData": {"tenant": {"id": TENANT}},
        "entities": [{"locale": "en-GB", "country": "GB", "platform": "Web",
                      "timezone": "Europe/London", "type": "clientInfo"}],
    }
    activity.update(extra)
    return activity


def personal_message(service_url: str, text: str, who: tuple[dict, dict] | None = None) -> dict:
    """A message typed in the 1:1 chat with the bot."""
    account, chat = who or (USER, PERSONAL)
    return _base(service_url, chat, who=account, type="message", text=text, textFormat="plain")


def channel_mention(service_url: str, text: str) -> dict:
    """A channel post that @mentions the bot."""
    activity = _base(service_url, CHANNEL, type="message",
                     text=f"<at>planbot</at> {text}", textFormat="plain")
    activity["entities"].append({
        "type": "mention", "text": "<at>planbot</at>",
        "mentioned": {"id": BOT_ID, "name": "planbot"}})
    activity["channelData"].update({
        "teamsChannelId": "19:4d5e6f@thread.tacv2", "teamsTeamId": "19:abc123@thread.tacv2",
        "channel": {"id": "19:4d5e6f@thread.tacv2"},
        "team": {"id": "19:abc123@thread.tacv2", "name": "Children's Improvement Board"}})
    return activity


def card_submit(service_url: str, data: dict, reply_to: str = "card-activity-1",
                who: tuple[dict, dict] | None = None) -> dict:
    """An Action.Submit click: a message with `value` and no text."""
    account, chat = who or (USER, PERSONAL)
    activity = _base(service_url, chat, who=account, type="message", value=data,
                     replyToId=reply_to)
    activity["channelData"]["postBack"] = True
    return activity


def card_execute(service_url: str, verb: str, data: dict | None = None,
                 reply_to: str = "card-activity-1", who: tuple[dict, dict] | None = None) -> dict:
    """An Action.Execute click (Universal Actions): invoke adaptiveCard/action."""
    account, chat = who or (USER, PERSONAL)
    return _base(service_url, chat, who=account, type="invoke", name="adaptiveCard/action",
                 replyToId=reply_to,
                 value={"action": {"type": "Action.Execute", "id": "execute-1", "verb": verb,
                                   "data": data or {}},
                        "trigger": "manual"})


def installation_update(service_url: str, action: str = "add",
                        who: tuple[dict, dict] | None = None) -> dict:
    """The app was installed (or removed) in the personal scope."""
    account, chat = who or (USER, PERSONAL)
    return _base(service_url, chat, who=account, type="installationUpdate", action=action)


def conversation_update_bot_added(service_url: str) -> dict:
    """The bot was added to a team (conversationUpdate with membersAdded)."""
    activity = _base(service_url, CHANNEL, type="conversationUpdate",
                     membersAdded=[{"id": BOT_ID}])
    activity["channelData"].update({"eventType": "teamMemberAdded",
                                    "team": {"id": "19:abc123@thread.tacv2"}})
    return activity


def team_installation(service_url: str) -> dict:
    """The app was installed in a team (installationUpdate in the General channel)."""
    activity = _base(service_url, {**CHANNEL, "id": "19:abc123@thread.tacv2"},
                     type="installationUpdate", action="add")
    activity["channelData"].update({
        "team": {"id": "19:abc123@thread.tacv2", "name": "Children's Improvement Board",
                 "aadGroupId": "0f0e0d0c-0b0a-4009-8008-070605040302"},
        "channel": {"id": "19:abc123@thread.tacv2"}, "source": {"name": "message"}})
    return activity


def roster_member(name: str, number: int, email: str) -> dict:
    """A team member as TeamsInfo.get_paged_members returns it."""
    return {"id": f"29:1Member{number:04d}", "name": name, "givenName": name.split()[0],
            "surname": name.split()[-1], "email": email, "userPrincipalName": email,
            "aadObjectId": f"11111111-0000-4000-8000-{number:012d}", "tenantId": TENANT,
            "userRole": "user"}
