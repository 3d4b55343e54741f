"""Errors with stable codes, in the spirit of spaCy's ``Errors`` table.

Every error a user can provoke with bad input carries a code (``E1xx``), the
place it happened (file and line, or a request field) and what to do about it.
The codes are part of the public API: tests and users may match on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Stable error codes and what they mean. Keep codes once published.
CODES: dict[str, str] = {
    "E100": "file or folder not found",
    "E101": "empty input: no examples",
    "E102": "bytes that are not UTF-8",
    "E103": "malformed JSON",
    "E104": "a field has the wrong type or is missing",
    "E105": "text with characters that cannot be encoded (a lone surrogate)",
    "E106": "JSON nested too deeply",
    "E107": "duplicate example id",
    "E108": "a number that is not finite (NaN or infinity)",
    "E110": "span offsets outside the text",
    "E111": "span start not before its end",
    "E112": "span surface string differs from the text at its offsets",
    "E113": "overlapping spans where overlaps are not allowed",
    "E114": "relation refers to a span that does not exist",
    "E115": "event refers to a span that does not exist",
    "E120": "BIO token and tag counts differ",
    "E121": "malformed BIO tag",
    "E122": "parallel files have different line counts",
    "E123": "text cannot be written as whitespace tokens without changing it",
    "E124": "tokens do not spell out the declared text",
    "E125": "span begins or ends with whitespace, which word-based formats cannot express",
    "E126": "an ADE path that is neither a fold file (ade_split_K_train.json / _test.json) nor ADE-NEG.txt",
    "E130": "unknown format",
    "E131": "format cannot be inferred",
    "E132": "optional dependency missing",
    "E135": "the output format contradicts the output path (its suffix, or a folder format for a file)",
    "E140": "malformed XML",
    "E150": "malformed generative string",
    "E160": "gold and predicted files do not match",
    "E170": "output already exists",
    "E171": "output cannot be written (disk full, no permission, or a special file)",
    "E172": "output is the same file as an input, or holds an input",
    "E173": "output path is a folder where a file is expected, or a file where a folder is expected",
    "E174": "output folder holds files that mrekit did not write",
    "E175": "an option that the model's engine does not have (--backend for a generative model)",
    "E176": "temperature scaling needs a single-label (softmax) text head",
    "E177": "no calibration data: no dev example has a text label the model knows",
    "E180": "encoder weights do not match their pinned hash",
    "E181": "not a model folder, or a folder from an incompatible version",
    "E182": "model weights were changed after saving",
    "E183": "invalid training or model setting",
    "E184": "nothing to resume from",
    "E185": "model folder asks to run its own code (auto_map / trust_remote_code), which mrekit never does",
    "E186": "weights that are not safetensors (pickle-based files are never loaded)",
    "E187": "a model file is not a regular file, is too large, or its configuration is out of range",
    "E188": "a model file was changed, added or removed after saving, or cannot be read",
    "E189": "resume does not match the interrupted run",
    "E190": "training data has no annotations at either level",
    "E191": "an encoder architecture mrekit cannot use (encoder-decoder, no per-token hidden states)",
    "E192": "the encoder's architecture cannot be exported to ONNX",
    "E193": "a built-in encoder that has not been built on this machine (mrekit encoders build NAME)",
    "E194": "unknown built-in encoder name",
    "E200": "not a generative model folder, or one from an incompatible version",
    "E201": "generative model files are missing or were changed after saving",
    "E202": "invalid generative model or training setting",
    "E203": "a model folder that cannot be used as a generative model",
    "E204": "data that the generative output format cannot express",
    "E210": "invalid mrekit package option (package name or version)",
    "E211": "building the model's wheel failed",
    "E212": "not a few-shot model folder, or one from an incompatible version",
    "E213": "few-shot model files are missing or were changed after saving",
    "E214": "a few-shot scorer that cannot be saved or trained that way",
    "E220": "an annotation engine that is unknown, or needs an extra that is not installed (--engine ray: mrekit[ray])",
    "E300": "HTTP request field is missing, has the wrong type, or breaks a server limit",
    "E301": "HTTP request text cannot be encoded as UTF-8 (a lone surrogate)",
    "E302": "HTTP request body is malformed (not JSON, not UTF-8, or a bad Content-Length)",
    "E303": "HTTP Host header is not on the server's allow-list",
    "E304": "HTTP request headers or body did not arrive within the read deadline",
    "E305": "HTTP request body is larger than the server's limit",
    "E306": "prediction took longer than the request timeout",
    "E307": "the server is shutting down or has too many open connections",
    "E308": "the model failed on a text",
    "E309": "invalid server option (port, limits, deadlines or allowed hosts)",
    "E310": "HTTP path or method that the server does not have",
}

#: Stable warning codes: something the user should know about, that does not stop the run.
WARNINGS: dict[str, str] = {
    "W101": "texts longer than max_length were truncated; gold spans past the cut were lost",
    "W102": "dev labels that never occur in train",
    "W103": "labels outside the model's label space were ignored",
    "W104": "the selection metric does not fit the model's levels",
    "W105": "a text longer than max_length was truncated at prediction (meta['truncated'])",
    "W106": "much of the training text maps to the encoder's unknown token: the encoder does not cover its script",
    "W107": "--encoder auto would pick the multilingual encoder, but it has not been built",
    "W110": "stale temporary files of an interrupted run were removed",
    "W120": "the encoder is a causal (decoder-only) language model: each token sees only its left context",
    "W130": "annotation-tool results of a kind mrekit does not read were skipped",
    "W131": "the output format has no place for some annotations; they were not written",
    "W150": "calibration wrote the model folder again without its ONNX exports (export again)",
    "W201": "generative targets: entities off token boundaries were trained as the covering tokens",
    "W202": "generative targets: entities beyond max_source_length were trained as their string",
    "W203": "generative targets were cut at max_target_length",
    "W300": "a micro-batch failed; its texts were predicted one by one",
    "W301": "a new connection was closed: the server holds its limit of connections",
    "W302": "the micro-batcher did not drain in time at shutdown; the rest was cancelled",
}


def warn(logger: logging.Logger, code: str, message: str) -> str:
    """Log ``message`` at WARNING level behind its code and return the logged line.

    Example:
        >>> warn(logging.getLogger("mrekit.doc"), "W101", "3 texts truncated")
        '[W101] 3 texts truncated'
    """
    if code not in WARNINGS:
        raise ValueError(f"unknown warning code {code!r}")
    line = f"[{code}] {message}"
    logger.warning(line)
    return line


def describe_text(text: str) -> str:
    """A text named in a log line without its content: a short hash and its length.

    Logs of a server must not hold user text; the hash still lets one find the text.

    Example:
        >>> describe_text("play muse")
        'text 793ca926 (9 chars)'
    """
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"text {digest} ({len(text)} chars)"


class MrekitError(ValueError):
    """An error caused by the user's input, with a stable code and location.

    A subclass of :class:`ValueError`, so callers may catch bad input idiomatically.

    Args:
        code: A key of :data:`CODES`, e.g. ``"E110"``.
        message: What is wrong, in one sentence.
        path: The file the problem is in, if any.
        line: The 1-based line number in ``path``, if known.
        field: The request or record field at fault, if any.
        hint: What the user can do about it.

    Example:
        >>> str(MrekitError("E110", "end 9 > text length 5", path="a.jsonl", line=3))
        '[E110] a.jsonl:3: end 9 > text length 5'
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(str(self))

    @property
    def location(self) -> str:
        """``file:line`` (or ``file``, or ``field``) where the problem is."""
        parts = []
        if self.path is not None:
            parts.append(self.path if self.line is None else f"{self.path}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        return " ".join(parts)

    def at(self, path: str | Path | None = None, line: int | None = None) -> MrekitError:
        """Return a copy of this error located at ``path``/``line`` (keeps known values)."""
        return MrekitError(
            self.code,
            self.message,
            path=self.path if self.path is not None else path,
            line=self.line if self.line is not None else line,
            field=self.field,
            hint=self.hint,
        )

    def __str__(self) -> str:
        loc = self.location
        text = f"[{self.code}] {loc}: {self.message}" if loc else f"[{self.code}] {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


def dataclass_from_dict(cls: type[T], data: Mapping[str, Any], *, code: str, what: str) -> T:
    """Build dataclass ``cls`` from ``data``, raising ``code`` that names every unknown key.

    Settings come from JSON files and CLI overrides; a typo there should fail loudly
    instead of being ignored.

    Example:
        >>> @dataclasses.dataclass
        ... class Args:
        ...     epochs: int = 1
        >>> dataclass_from_dict(Args, {"lr": 1}, code="E183", what="training setting")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] unknown training setting(s): lr (known: ['epochs'])
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise MrekitError(code, f"unknown {what}(s): {', '.join(unknown)}", hint=f"known: {sorted(names)}")
    return cls(**data)
