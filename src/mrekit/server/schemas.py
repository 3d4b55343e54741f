"""Request and response bodies of the HTTP API, and the JSON shape of its errors.

Every error response has ``{"error": {"type", "code", "message", "field"}, "detail": ...}``:
``type`` is a short name (``validation_error``, ``timeout``, ...), ``code`` the stable
mrekit error code (``E300``..., see :data:`mrekit.errors.CODES`) and ``field`` the
request field at fault (``texts[3]``) when there is one. For 422 ``detail`` keeps
FastAPI's list of ``{"loc", "msg", "type"}`` (plus ``field`` and ``code``), so clients
written for FastAPI's default errors keep working. No error body echoes the request's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

EXAMPLE_TEXT = "add sabrina salerno to the grime instrumentals playlist"


class ExtractRequest(BaseModel):
    """One text (``text``) or a batch (``texts``): exactly one of the two."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": EXAMPLE_TEXT}, {"texts": [EXAMPLE_TEXT, "book a table for two"]}]},
    )

    text: str | None = Field(None, description="One text; the response is one result object.")
    texts: list[str] | None = Field(None, description="Several texts; the response is {'results': [...]}, in order.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ExtractRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' (a string) or 'texts' (a list of strings)")
        return self

    @property
    def batch(self) -> list[str]:
        """The texts to predict, in order."""
        return [self.text] if self.text is not None else list(self.texts or [])


#: Per attribute name, each value's probability: ``{"polarity": {"negative": 0.91, "positive": 0.06}}``.
AttrScores = dict[str, dict[str, float]]


class SpanResult(BaseModel):
    """A predicted span: character offsets into the text (end exclusive). Absent fields are omitted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": 4,
                    "end": 9,
                    "label": "aspect",
                    "text": "pizza",
                    "score": 0.97,
                    "attrs": {"polarity": "negative"},
                    "attr_scores": {"polarity": {"negative": 0.91, "positive": 0.06, "neutral": 0.03}},
                }
            ]
        }
    )

    start: int
    end: int
    label: str
    text: str
    score: float | None = None
    attrs: dict[str, Any] = Field({}, description="The span's attributes, e.g. {'polarity': 'negative'}.")
    attr_scores: AttrScores | None = Field(None, description="Per attribute, each value's probability.")


class RelationResult(BaseModel):
    """A predicted relation from the span ``head`` to the span ``tail`` (indices into ``spans``)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"head": 0, "tail": 1, "label": "Work_For", "score": 0.91}]}
    )

    head: int = Field(description="Index in 'spans' of the relation's first argument (its subject).")
    tail: int = Field(description="Index in 'spans' of the relation's second argument (its object).")
    label: str = Field(description="The relation type, e.g. 'Work_For'.")
    score: float | None = Field(None, description="The model's probability of the relation.")


class EventResult(BaseModel):
    """A predicted event: its trigger span, its type and its ``[role, span index]`` arguments."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"trigger": 1, "type": "Adverse_event", "args": [["Subject", 0], ["Treatment", 3]]}]
        }
    )

    trigger: int = Field(description="Index in 'spans' of the trigger span.")
    type: str = Field(description="The event type, e.g. 'Adverse_event'.")
    args: list[tuple[str, int]] = Field(
        [], description="The arguments, each a pair [role, index in 'spans'], e.g. ['Subject', 0]."
    )


class ExtractResult(BaseModel):
    """One text's prediction, the schema's ``Example.to_dict()``. Absent fields are omitted."""

    id: str | None = Field(None, description="The example's id, when it has one.")
    text: str
    labels: list[str] = []
    label_attrs: dict[str, dict[str, Any]] = Field(
        {}, description="Per predicted text label, its attributes, e.g. {'food': {'polarity': 'positive'}}."
    )
    label_scores: dict[str, float] | None = None
    label_attr_scores: dict[str, AttrScores] | None = Field(
        None, description="Per predicted text label, per attribute, each value's probability."
    )
    spans: list[SpanResult] | None = None
    relations: list[RelationResult] = Field(
        [], description="Relations between the spans, by their indices in 'spans'; omitted when there are none."
    )
    events: list[EventResult] = Field(
        [], description="Events over the spans, by their indices in 'spans'; omitted when there are none."
    )
    meta: dict[str, Any] = Field(
        {},
        description=(
            "Notes on the prediction: 'truncated' (the text was cut at the model's max_length), "
            "'inconsistent_spans' (span indices), 'inconsistent_relations' (relation indices) and "
            "'inconsistent_arguments' ([event index, argument index] pairs) for predictions whose "
            "labels were never seen together in training."
        ),
    )


class ExtractBatchResult(BaseModel):
    """Predictions for ``texts``, in request order."""

    results: list[ExtractResult]


class ErrorInfo(BaseModel):
    """What went wrong, its stable code, and the request field at fault when there is one."""

    type: str
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorInfo
    detail: Any = None


def error_body(kind: str, code: str, message: str, *, field: str | None = None, detail: Any = None) -> dict[str, Any]:
    """An error response body.

    Example:
        >>> error_body("timeout", "E306", "took too long")["error"]
        {'type': 'timeout', 'code': 'E306', 'message': 'took too long', 'field': None}
    """
    return {
        "error": {"type": kind, "code": code, "message": message, "field": field},
        "detail": message if detail is None else detail,
    }


def field_name(loc: Sequence[str | int]) -> str:
    """A validation location as one readable field name, without the leading ``body``.

    Example:
        >>> field_name(("body", "texts", 3))
        'texts[3]'
    """
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def limit_errors(request: ExtractRequest, *, max_text_chars: int, max_batch: int) -> list[dict[str, Any]]:
    """Validation errors (FastAPI's shape) for a request that breaks the server's limits.

    Example:
        >>> [e["msg"] for e in limit_errors(ExtractRequest(texts=[]), max_text_chars=10, max_batch=2)]
        ['give at least one text']
    """
    if request.texts is not None:
        if not request.texts:
            return [_error(("body", "texts"), "too_short", "give at least one text")]
        if len(request.texts) > max_batch:
            message = f"{len(request.texts)} texts, more than the limit of {max_batch} per request"
            return [_error(("body", "texts"), "too_long", message, max_length=max_batch)]
        located = [(("body", "texts", i), text) for i, text in enumerate(request.texts)]
    else:
        located = [(("body", "text"), request.text or "")]
    errors = []
    for loc, text in located:
        if not text.strip():  # whitespace only is as empty as "" to the model
            message = "the text is empty" if not text else "the text is empty (only whitespace)"
            errors.append(_error(loc, "string_too_short", message, min_length=1))
        elif len(text) > max_text_chars:
            message = f"text has {len(text)} characters, more than the limit of {max_text_chars}"
            errors.append(_error(loc, "string_too_long", message, max_length=max_text_chars))
        elif (position := unencodable_at(text)) is not None:
            message = (
                f"the text has a lone surrogate (U+{ord(text[position]):04X}) at character {position}, "
                "which is not valid Unicode text"
            )
            errors.append(_error(loc, "string_unicode", message, position=position))
    return errors


def unencodable_at(text: str) -> int | None:
    """The index of the first character that UTF-8 cannot encode (a lone surrogate), or ``None``.

    JSON allows ``"\\ud800"``; Python decodes it to a lone surrogate, which tokenizers refuse.

    Example:
        >>> unencodable_at("ok"), unencodable_at("ab\\ud800c")
        (None, 2)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def validation_body(errors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The 422 body: FastAPI's ``detail`` list (without echoing inputs) and a one-line summary.

    Example:
        >>> body = validation_body([{"loc": ("body", "text"), "msg": "text is empty", "type": "string_too_short"}])
        >>> body["error"]["message"], body["error"]["code"], body["detail"][0]["field"]
        ('text: text is empty', 'E300', 'text')
    """
    detail = []
    for err in errors:
        loc = list(err.get("loc", ()))
        kind = err.get("type", "value_error")
        code = _CODES.get(kind, "E300")
        detail.append({"loc": loc, "msg": _clean(err), "type": kind, "field": _field(err), "code": code})
    summary = "; ".join(f"{d['field']}: {d['msg']}" for d in detail[:5]) or "invalid request"
    if len(detail) > 5:
        summary += f"; and {len(detail) - 5} more"
    first = detail[0] if detail else {"field": None, "code": "E300"}
    return error_body("validation_error", first["code"], summary, field=first["field"], detail=detail)


#: Validation error types with a code of their own; the rest are ``E300``.
_CODES = {"string_unicode": "E301", "json_invalid": "E302"}


def _error(loc: tuple, kind: str, message: str, **ctx: Any) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": kind, "ctx": ctx}


def _field(err: dict[str, Any]) -> str:
    # A JSON syntax error's location is a character position, not a field.
    if err.get("type") == "json_invalid":
        return "body"
    return field_name(err.get("loc", ()))


def _clean(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    if err.get("type") == "json_invalid":
        position = err.get("loc", ("body", "?"))[-1]
        return f"the body is not valid JSON (error at character {position})"
    # Our own model validators' messages read better without pydantic's prefix.
    return msg.removeprefix("Value error, ")
