"""PlanDraft: what every importer produces, before anything touches the database.

All text is kept as written (cleaned of HTML and runs of whitespace); parsed values such as the
due date or the canonical RAG are derived later from these strings by storage.rules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storage.rules import without_control

LeadRole = Literal["strategic", "operational", "lead"]


class PlanImportError(Exception):
    """A plan the importer cannot read: the message names the line (or row) at fault."""

    def __init__(self, message: str, *, line: int | None = None, source: str | None = None):
        where = ""
        if source and line:
            where = f"{source}, line {line}: "
        elif line:
            where = f"line {line}: "
        elif source:
            where = f"{source}: "
        super().__init__(where + message)
        self.line = line
        self.source = source



def _printable(value: object) -> object:
    if isinstance(value, str):
        return without_control(value)  # a file with them must import, not fail in the database
    if isinstance(value, list | tuple):
        return type(value)(_printable(item) for item in value)
    return value


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        return _printable(value)


class LeadDraft(_Draft):
    """One lead cell (or one role split out of a run-together cell), as written."""

    name: str
    role: LeadRole = "lead"


class ActionDraft(_Draft):
    """One numbered action."""

    ref: str  # normalised for display: "1d", "CS18009.A", "3.2"
    ref_as_written: str
    text: str
    leads: list[LeadDraft] = Field(default_factory=list)
    start: str | None = None  # as written
    due: str | None = None  # as written ("Feb-15", "Ongoing", "31 December 2018")
    measures: str | None = None  # "how will we know?"
    cost: str | None = None
    rag: str | None = None  # as written ("RED", "amber"); None when blank
    impact_rag: str | None = None
    rating_change: str | None = None  # as written ("↔", "↑")
    progress: str | None = None
    evidence: str | None = None
    outcome: str | None = None  # "what our children will say" / desired outcome for this row
    subheading: str | None = None
    line: int | None = None  # 1-based line (or spreadsheet row) where the action starts
    # Judgement calls recorded per action (fill-down of merged cells).
    rag_inherited: bool = False
    leads_inherited: bool = False


class ObjectiveDraft(_Draft):
    """A recommendation / requirement / objective, holding its actions."""

    ref: str
    text: str
    theme: str | None = None  # theme name, as in PlanDraft.themes
    source: str | None = None  # e.g. "Ofsted 2014"
    outcome: str | None = None
    strategic_lead: str | None = None
    due: str | None = None
    progress: str | None = None  # commentary printed under the objective
    line: int | None = None
    actions: list[ActionDraft] = Field(default_factory=list)


class ThemeDraft(_Draft):
    """A theme / priority / area / section."""

    name: str
    ref: str | None = None
    lead: str | None = None
    statement: str | None = None


class PlanDraft(_Draft):
    """A whole plan as read from one file."""

    name: str
    organisation: str | None = None
    year: int | None = None
    layout: str  # which reader produced it: "manchester-2015", "csv", "xlsx", ...
    source_file: str | None = None
    themes: list[ThemeDraft] = Field(default_factory=list)
    objectives: list[ObjectiveDraft] = Field(default_factory=list)
    # Actions that sit straight under a theme with no objective level.
    loose_actions: list[tuple[str | None, ActionDraft]] = Field(default_factory=list)
    unknown_columns: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # judgement calls and warnings

    def all_actions(self) -> list[tuple[ObjectiveDraft | None, ActionDraft]]:
        """Every action with its objective (None for actions straight under a theme)."""
        pairs: list[tuple[ObjectiveDraft | None, ActionDraft]] = [
            (objective, action) for objective in self.objectives for action in objective.actions
        ]
        pairs.extend((None, action) for _, action in self.loose_actions)
        return pairs

    def theme_of(self, objective: ObjectiveDraft | None, action: ActionDraft) -> str | None:
        """The theme name an action belongs to."""
        if objective is not None:
            return objective.theme
        for theme, loose in self.loose_actions:
            if loose is action:
                return theme
        return None
