"""The check-in submit payload, typed: flat card data in, CheckinSubmit or SubmitInvalid out."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from storage.rules import parse_rag, without_control

PROGRESS_MAX = 4000
NOTE_MAX = 2000
MAX_ANSWERS = 50  # a card shows at most 15 actions; anything far beyond is not from our card
_FIELDS = {"rag": "rag", "progress": "progress", "evidence": "evidence", "blockers": "blockers",
           "nochange": "no_change", "corrective": "corrective_action", "review": "next_review"}
_KEY = re.compile(r"(rag|progress|evidence|blockers|nochange|corrective|review)_(.*)",
                  re.DOTALL)
_ID = re.compile(r"[0-9]{1,9}")
_CARD_KEYS = {"verb", "token", "seen", "msteams"}
_LABELS = {"rag": "RAG rating", "progress": "Progress", "evidence": "Evidence",
           "blockers": "Blockers", "no_change": "No change this week", "token": "The card's token",
           "verb": "The card's action", "seen": "The card's version",
           "answers": "The check-in", "action_id": "The action",
           "corrective_action": "Corrective action", "next_review": "Next review date"}
RED_AMBER_NEEDS = ("Red or Amber needs {missing}: the improvement board asks what is being done "
                   "and when it will be looked at again.")
BLUE_NEEDS_EVIDENCE = ("Blue means achieved and evidenced: add the evidence (a document, link or "
                       "report) for this action.")


class SubmitInvalid(Exception):
    """A check-in submission that cannot be recorded; errors per action id (None: whole card)."""

    def __init__(self, errors: dict[int | None, str], message: str | None = None) -> None:
        self.errors = errors
        if message is None:
            count = sum(1 for key in errors if key is not None)
            message = errors[None] if None in errors else (
                "Please fix the item marked below." if count == 1
                else f"Please fix the {count} items marked below.")
        self.message = message
        super().__init__(message)


def _text(value: object) -> object:
    """Strip a string, drop control characters; an empty string means None."""
    if isinstance(value, str):
        return without_control(value).strip() or None
    return value


class ActionAnswer(BaseModel):
    """One action's answer on the check-in card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action_id: int = Field(ge=1)
    no_change: bool = False
    rag: Literal["red", "amber", "green", "blue"] | None = None
    progress: Annotated[str, Field(max_length=PROGRESS_MAX)] | None = None
    evidence: Annotated[str, Field(max_length=NOTE_MAX)] | None = None
    blockers: Annotated[str, Field(max_length=NOTE_MAX)] | None = None
    corrective_action: Annotated[str, Field(max_length=NOTE_MAX)] | None = None
    next_review: date | None = None

    @field_validator("progress", "evidence", "blockers", "corrective_action", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return _text(value)

    @field_validator("no_change", mode="before")
    @classmethod
    def _toggle(cls, value: object) -> object:
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("rag", mode="before")
    @classmethod
    def _rag(cls, value: object) -> object:
        value = _text(value)
        if value is None:
            return None
        rag = parse_rag(value) if isinstance(value, str) else None
        if rag is None:
            raise ValueError("choose Red, Amber, Green or Blue")
        return rag.value

    @field_validator("next_review", mode="before")
    @classmethod
    def _review(cls, value: object, info: ValidationInfo) -> object:
        value = _text(value)
        if value is None:
            return None
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("choose a date from the calendar (YYYY-MM-DD)")
        try:
            day = date.fromisoformat(value)
        except ValueError:  # 2026-02-30: pydantic's own words would be technical
            raise ValueError("choose a date from the calendar (YYYY-MM-DD)") from None
        today = (info.context or {}).get("today")
        if today is not None and day < today:
            raise ValueError("choose today or a later day")
        return day

    def has_notes(self) -> bool:
        """True when anything was typed or picked besides the RAG."""
        return bool(self.progress or self.evidence or self.blockers or self.corrective_action
                    or self.next_review)

    def untouched(self, stored_rag: str | None) -> bool:
        """The card's answer as it came, pre-filled with the stored RAG and nothing typed:
        the same as "No change this week" (nothing is stored for it)."""
        return self.rag == stored_rag and not (
            self.progress or self.evidence or self.blockers or self.corrective_action
            or self.next_review)

    @model_validator(mode="after")
    def _rag_needs_substance(self, info: ValidationInfo) -> ActionAnswer:
        if self.rag == "blue" and not self.evidence:
            raise ValueError(BLUE_NEEDS_EVIDENCE)
        stored = ((info.context or {}).get("stored_rags") or {}).get(self.action_id)
        if self.rag in ("red", "amber") and not self.no_change and not self.untouched(stored):
            missing = [name for name, value in (("the corrective action", self.corrective_action),
                                                ("the next review date", self.next_review))
                       if not value]
            if missing:
                raise ValueError(RED_AMBER_NEEDS.format(missing=" and ".join(missing)))
        return self


class CheckinSubmit(BaseModel):
    """A whole check-in card as submitted: its token and one answer per action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verb: Literal["checkin.submit"] = "checkin.submit"
    token: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    # Which status update of each action the card showed ("action:update,..."; 0: none), so
    # that an answer to a card made before someone else's update is asked back, not applied.
    seen: str | None = Field(default=None, max_length=20 * MAX_ANSWERS,
                             pattern=r"^[0-9]{1,12}:[0-9]{1,12}(,[0-9]{1,12}:[0-9]{1,12})*$")
    answers: list[ActionAnswer] = Field(min_length=1, max_length=MAX_ANSWERS)

    def seen_updates(self) -> dict[int, int] | None:
        """The update id the card showed per action id; None for a card made before versions."""
        if self.seen is None:
            return None
        pairs = (item.split(":") for item in self.seen.split(","))
        return {int(action): int(update) for action, update in pairs}

    @classmethod
    def from_card_data(cls, data: dict, stored_rags: dict[int, str | None] | None = None,
                       today: date | None = None) -> CheckinSubmit:
        """Read the flat card data (inputs merged into the action's data); SubmitInvalid if bad.

        stored_rags: each action's current RAG; a Red or Amber left as the card showed it, with
        nothing typed, is no change and needs no corrective action. today: a next review date
        before it is refused."""
        if not isinstance(data, dict):
            raise SubmitInvalid({None: "The check-in card sent no data."})
        card, grouped = _group(data)
        answers, errors = [], {}
        context = {"stored_rags": stored_rags or {}, "today": today}
        for action_id, fields in grouped.items():
            try:
                answers.append(ActionAnswer.model_validate({"action_id": action_id, **fields},
                                                           context=context))
            except ValidationError as exc:
                errors[action_id] = explain(exc)
        try:
            submit = cls.model_validate({**card, "answers": answers}, context=context)
        except ValidationError as exc:  # "no answers" is already explained per action
            message = explain(exc, skip={"answers"} if errors else set())
            if message:
                errors[None] = message
        if errors:
            raise SubmitInvalid(errors)
        return submit


def read_seen(data: dict) -> dict[int, int] | None:
    """The card's versions before the whole payload is read (validation needs what the card
    showed); None for a card without them; SubmitInvalid when they are not ours."""
    seen = data.get("seen") if isinstance(data, dict) else None
    if seen is None:
        return None
    try:
        return CheckinSubmit.model_validate(
            {"token": "x", "seen": seen, "answers": [{"action_id": 1}]}).seen_updates()
    except ValidationError:
        raise SubmitInvalid({None: "The card's token is not valid: please use the latest "
                                   "check-in card."}) from None


def _group(data: dict) -> tuple[dict[str, object], dict[int, dict[str, object]]]:
    """Split flat card data into card-level keys and input values grouped by action id."""
    card: dict[str, object] = {}
    grouped: dict[int, dict[str, object]] = {}
    problems: list[str] = []
    for key, value in data.items():
        if key == "msteams":
            continue
        if not isinstance(key, str):
            problems.append("The card sent a field without a name.")
            continue
        if key in _CARD_KEYS:
            if not isinstance(value, str):
                problems.append(f"{_LABELS[key]} must be text.")
            card[key] = value
            continue
        match = _KEY.fullmatch(key)
        if match is None:
            problems.append(f"The card sent an unknown field {key[:40]!r}.")
        elif not _ID.fullmatch(match[2]):
            problems.append(f"The card sent a field for an action id that is not a number "
                            f"({key[:40]!r}).")
        elif not isinstance(value, str):
            problems.append(f"The card's field {key!r} must be text.")
        else:
            grouped.setdefault(int(match[2]), {})[_FIELDS[match[1]]] = value
    if "token" not in card:
        problems.append("The card's token is missing: please use the latest check-in card.")
    if len(grouped) > MAX_ANSWERS:
        problems.append(f"The card sent answers for {len(grouped)} actions; at most "
                        f"{MAX_ANSWERS} fit on a check-in.")
    if problems:
        raise SubmitInvalid({None: " ".join(dict.fromkeys(problems[:5]))})
    return card, grouped


def explain(exc: ValidationError, skip: set[str] | frozenset[str] = frozenset()) -> str:
    """A ValidationError as one plain sentence per problem, naming the field (never the input)."""
    sentences = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        if field in skip:
            continue
        label = _LABELS.get(field, field or "This action")
        kind, context = error["type"], error.get("ctx") or {}
        if kind == "value_error":
            message = str(context.get("error", error["msg"]))
            sentences.append(message if not field else f"{label}: {message}.")
        elif kind == "string_too_long":
            sentences.append(f"{label} is too long: at most {context['max_length']} characters.")
        elif kind in ("string_type", "literal_error") and field != "verb":
            sentences.append(f"{label} must be text." if kind == "string_type"
                             else f"{label} is not valid.")
        elif field in ("token", "seen"):
            sentences.append("The card's token is not valid: please use the latest check-in card.")
        elif field == "verb":
            sentences.append("The card's action is not a check-in submit.")
        elif kind == "bool_parsing":
            sentences.append(f"{label} must be on or off.")
        elif field == "action_id":
            sentences.append("This action is not on your check-in.")
        elif field == "answers":
            sentences.append("The check-in has no answers: please use the card's Send button.")
        else:
            sentences.append(f"{label}: {error['msg']}.")
    return " ".join(dict.fromkeys(sentences))
