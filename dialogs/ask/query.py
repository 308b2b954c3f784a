"""The structured form of a question (what parse.py produces and answer.py runs)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.rules import Rag

Intent = Literal[
    "list",  # actions matching the filters ("what's red in Quality of Practice?")
    "show",  # one or more actions in full, with history ("show 2.4")
    "changes",  # what changed / went red / got worse since a date
    "summary",  # RAG counts by theme ("how are we doing?")
    "not_updated",  # who hasn't updated / no update for N weeks
    "help",
    "unknown",
]


class Vocabulary(BaseModel):
    """What the parser may match words against: the plans' own names, themes, leads and refs."""

    plans: list[str] = []
    themes: list[str] = []  # theme names as stored
    leads: list[str] = []  # individual lead names as written ("Karen Dolton", "SH", "DMT")
    refs: list[str] = []  # action refs as stored ("3a", "CS18001.A", "2.4")


class Query(BaseModel):
    """A question as filters and an intent. Empty filters mean 'any'."""

    model_config = ConfigDict(extra="forbid")

    intent: Intent
    text: str = ""
    plan: str | None = None  # plan name as stored
    rags: list[Rag] = Field(default_factory=list)  # any of these current RAGs
    no_rag: bool = False  # actions with no RAG yet
    no_due: bool = False  # actions with no due date ("Ongoing", blank)
    themes: list[str] = Field(default_factory=list)  # theme names as stored
    leads: list[str] = Field(default_factory=list)  # lead names as in the Vocabulary
    mine: bool = False  # the asker's own actions
    refs: list[str] = Field(default_factory=list)  # refs as stored
    overdue: bool = False  # due before today and not Blue
    due_from: date | None = None  # due on or after
    due_to: date | None = None  # due on or before
    changed_since: date | None = None  # an update on or after this day
    went_to: list[Rag] = Field(default_factory=list)  # changed to one of these since
    worse: bool = False  # rating change "down" since changed_since
    better: bool = False  # rating change "up" since changed_since
    stale_days: int | None = None  # no update for at least this many days
    open_only: bool = False  # not Blue ("what's outstanding")
    note: str | None = None  # what the parser could not use, for a helpful reply
