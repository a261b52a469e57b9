"""The fields of the API's request bodies (`requests.py`) and how their refusals read.

Texts are strings of 1..N characters after stripping (Python's strip), without NUL;
numbers are integers from 0 (a boolean is not one); `null` is the same as leaving a field
out. pydantic checks each; `said()` turns its errors into the API's sentences, one per field.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from checkpoints.rules.selectors import MAX_NUMBER
from checkpoints.rules.version_labels import LabelsInvalid, labels_clean
from checkpoints.security.input_guard import MAX_ID

REQUIRED = "This field is required."
UNKNOWN = "Unknown field."
NOT_TEXT = "Must be a string."
NUL = "Must not contain NUL characters."
EMPTY = "Must not be empty."
TOO_LONG = "At most {max_length} characters."
NUMBER = "Must be an integer from 0 to {maximum}."
BOOLEAN = "Must be true or false."
TABLES = "Give a list of 1 to 500 table names."
TABLE_EACH = "Each table name is a string of 1 to 200 characters."
#: As `services.sharing.HOURS_INVALID` says it.
HOURS = "Choose when the link expires: from 1 hour to 7 days (1 to 168 hours)."
MAX_HOURS = 7 * 24


_MESSAGES = {"string_type": NOT_TEXT, "string_too_short": EMPTY, "bool_type": BOOLEAN}


def refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("refused", message)


def _stripped(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise refuse(NUL)
        return value.strip()  # Python's strip, as the pages and the CLI strip
    return value


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise refuse(NUL)
    return value


def text(max_length: int) -> Any:
    return Field(strict=True, min_length=1, max_length=max_length)


def says(message: str) -> WrapValidator:
    """Whatever pydantic finds wrong with the value, the API's one sentence for it."""

    def wrap(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise refuse(message) from None

    return WrapValidator(wrap)


def number(maximum: int) -> Any:
    return Field(strict=True, ge=0, le=maximum)


Name = Annotated[str, text(200), BeforeValidator(_stripped)]
Prompt = Annotated[str, text(10_000), BeforeValidator(_stripped)]
Script = Annotated[str, text(1_000_000), BeforeValidator(_no_nul)]
Statement = Annotated[str, text(100_000), BeforeValidator(_no_nul)]
Table = Annotated[str, text(130), BeforeValidator(_stripped)]
Setting = Annotated[str, text(500), BeforeValidator(_stripped)]
Url = Annotated[str, text(2000), BeforeValidator(_stripped)]
Moment = Annotated[str, text(64), BeforeValidator(_stripped)]
Number = Annotated[int, number(MAX_NUMBER), says(NUMBER.format(maximum=MAX_NUMBER))]
Id = Annotated[int, number(MAX_ID), says(NUMBER.format(maximum=MAX_ID))]


def _hours_nonzero(hours: int) -> int:
    if hours == 0:
        raise refuse(HOURS)
    return hours


Hours = Annotated[
    int,
    number(MAX_HOURS),
    says(NUMBER.format(maximum=MAX_HOURS)),
    AfterValidator(_hours_nonzero),
    Field(json_schema_extra={"minimum": 1}),
]
SnapshotLimit = Annotated[int, number(10_000), says(NUMBER.format(maximum=10_000))]


def _tables(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as error:
        whole = any(not found["loc"] for found in error.errors())
        raise refuse(TABLES if whole else TABLE_EACH) from None


Tables = Annotated[
    list[Annotated[str, Field(strict=True, min_length=1, max_length=200)]],
    Field(min_length=1, max_length=500),
    WrapValidator(_tables),
]


def _labels(value: Any) -> dict[str, str]:
    try:
        return labels_clean(value)
    except LabelsInvalid as error:
        raise refuse(error.message) from None


LABELS_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "string", "maxLength": 200},
    "maxProperties": 20,
    "propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_.\\-]{0,62}$"},
    "description": "Labels kept with the version (at most 20; keys of letters, digits, "
    "`_ . -`; values up to 200 characters).",
}
Labels = Annotated[dict[str, str], BeforeValidator(_labels), WithJsonSchema(LABELS_SCHEMA)]


class Request(BaseModel):
    """A request body: unknown fields refused; `null` counts as a field left out."""

    model_config = ConfigDict(extra="forbid")
    #: The sentence for a required field left out, where it is not `REQUIRED`.
    MISSING: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _null_is_left_out(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            k: v
            for k, v in data.items()
            if v is not None or k not in fields or not fields[k].is_required()
        }


def said(model: type[Request], error: ValidationError) -> dict[str, str]:
    """pydantic's errors as the API says them: {field: sentence}, one per field."""
    details: dict[str, str] = {}
    for found in error.errors(include_url=False):
        field = str(found["loc"][0]) if found["loc"] else "body"
        kind = found["type"]
        if kind == "missing":
            message = model.MISSING.get(field, REQUIRED)
        elif kind == "extra_forbidden":
            message = UNKNOWN
        elif kind == "string_too_long":
            message = TOO_LONG.format(max_length=found["ctx"]["max_length"])
        else:
            message = _MESSAGES.get(kind, found["msg"])
        details.setdefault(field[:100], message)
    return details
