"""Help and plan listing: the first things a newcomer asks."""

from __future__ import annotations

from sqlalchemy import select

from cards.help import HelpView, PlanLine, help_card
from dialogs.context import Deps, Reply, Turn
from dialogs.router import Router
from storage.models import Action
from storage.plans import list_plans

router = Router()  # included into the main router by build_router()


async def help_view(turn: Turn, deps: Deps) -> HelpView:
    """The plans loaded and where the user is talking from."""
    async with deps.sessions() as session:
        plans = await list_plans(session=session)
        example = (await session.execute(select(Action.ref).order_by(
            Action.plan_id, Action.position).limit(1))).scalar()
    return HelpView(
        plans=[PlanLine(name=plan.name, organisation=plan.organisation, actions=count)
               for plan, count in plans],
        is_channel=turn.conversation_type != "personal",
        example_ref=example or "2.4",
    )


@router.intent(r"(help|hi|hello|hey|start|what can you do|commands|menu|\?)")
@router.verb("help")
async def show_help(turn: Turn, deps: Deps) -> Reply:
    """Answer 'help' with the help card."""
    return Reply(cards=[help_card(await help_view(turn, deps))])


@router.intent(r"(list |show |which )?plans( loaded)?")
async def show_plans(turn: Turn, deps: Deps) -> Reply:
    """List the plans loaded, one line each."""
    view = await help_view(turn, deps)
    if not view.plans:
        return Reply(text="No plan is loaded yet. An admin can import one with "
                          "`planbot import FILE`.")
    lines = [f"- **{plan.name}**: {plan.actions} actions" for plan in view.plans]
    return Reply(text="Plans loaded:\n\n" + "\n".join(lines))


async def not_understood(turn: Turn, deps: Deps) -> Reply:
    """A helpful answer to anything the bot does not understand yet."""
    return Reply(
        text=f"Sorry, I didn't understand \"{turn.text.strip()[:200]}\". "
             "Here is what I can do:",
        cards=[help_card(await help_view(turn, deps))],
    )


def build_router() -> Router:
    """The bot's router with every dialog module included."""
    from dialogs import checkin_submit, commands, digest, export
    from dialogs.ask import dialog as ask_dialog

    async def question_or_help(turn: Turn, deps: Deps) -> Reply:
        return await ask_dialog.answer_text(turn, deps) or await not_understood(turn, deps)

    main = Router(fallback=question_or_help)
    for part in (router, checkin_submit.router, commands.router, digest.router, export.router,
                 ask_dialog.router):
        main.include(part)
    return main
