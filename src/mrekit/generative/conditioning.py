"""Gold-conditioned renderings for the MRE study: one level given, the other generated.

The Mutual Reinforcement Effect asks whether each level helps the other. A
generative model can be given one level's gold annotation in its input and
asked for the other level only:

* ``condition="word"``: text + gold word-level items -> text label(s);
* ``condition="text"``: text + gold text label(s) -> word-level items;
* ``condition="none"``: the plain joint format (text -> both levels).

The outputs stay in the usual OIELLM / GIELLM grammar with the given level left
empty, so the same parsers and the same constrained decoding read them:

=========  =========  ==========================================  ===========================
format     condition  input                                       output
=========  =========  ==========================================  ===========================
oiellm     none       ``play muse/NER``                           ``PlayMusic/NER/:artist;muse``
oiellm     word       ``play muse/NER/:artist;muse``              ``PlayMusic/NER/``
oiellm     text       ``play muse/PlayMusic/NER``                 ``/NER/:artist;muse``
giellm     none       ``play muse <GetWeather><PlayMusic> NER``   ``<PlayMusic>NER:artist;muse``
giellm     word       ``play muse <GetWeather><PlayMusic> NER:artist;muse``  ``<PlayMusic>NER``
giellm     text       ``play muse <PlayMusic> NER``               ``NER:artist;muse``
=========  =========  ==========================================  ===========================

With ``condition="text"`` the GIELLM input lists the gold labels as the only candidates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from mrekit.errors import MrekitError
from mrekit.formats.giellm import render_giellm
from mrekit.formats.items import DEFAULT_ATTR_KEYS, resolve
from mrekit.formats.oiellm import LABEL_SEP, render_oiellm
from mrekit.schema import Example

#: Output formats a generative model can be trained on.
FORMATS = ("oiellm", "giellm")
#: What the input is given besides the text: nothing, the gold word level, or the gold text level.
CONDITIONS = ("none", "word", "text")


def render_pair(
    example: Example,
    *,
    format: str = "oiellm",
    condition: str = "none",
    task: str | None = None,
    kind: str | None = None,
    label_set: Sequence[str] | None = None,
    types: Collection[str] | None = None,
    attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
) -> tuple[str, str]:
    """Render ``example`` as an ``(input, output)`` pair of a format and condition.

    Args:
        example: The example (both levels are read; the given level goes into the input).
        format: ``"oiellm"`` or ``"giellm"``.
        condition: ``"none"``, ``"word"`` (gold items given) or ``"text"`` (gold labels given).
        task: The task word (default from ``kind``).
        kind: ``"spans"``, ``"relations"`` or ``"events"`` (default from ``task``).
        label_set: GIELLM candidate labels (default: the example's own).
        types: Types the output is checked to parse back with.
        attr_keys: Span attributes rendered by position after the surface.

    Raises:
        MrekitError: ``E202`` for an unknown format or condition; ``E150`` when
            the example cannot be rendered unambiguously.

    Example:
        >>> from mrekit import Span
        >>> ex = Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
        >>> render_pair(ex, condition="text")
        ('play muse/PlayMusic/NER', '/NER/:artist;muse')
        >>> render_pair(ex, format="giellm", condition="word", label_set=["GetWeather", "PlayMusic"])
        ('play muse <GetWeather><PlayMusic> NER:artist;muse', '<PlayMusic>NER')
    """
    check_choice(format, FORMATS, "format")
    check_choice(condition, CONDITIONS, "condition")
    task, kind = resolve(task, kind)
    options = {"kind": kind, "types": types, "attr_keys": attr_keys}
    if format == "giellm":
        options["label_set"] = label_set
    render = render_oiellm if format == "oiellm" else render_giellm
    source, output = render(example, task, **options)
    if condition == "none":
        return source, output
    labels_only = render(without_word_level(example), task, **options)[1]
    items_only = render(dataclasses.replace(example, labels=[]), task, **options)[1]
    if condition == "word":
        # The gold items follow the usual input; the output keeps labels and the task marker.
        given = items_only[len(task) + 2 :] if format == "oiellm" else items_only[len(task) :]
        return (f"{source}/{given}" if format == "oiellm" else source + given), labels_only
    if format == "oiellm":
        return f"{example.text}/{LABEL_SEP.join(example.labels)}/{task}", items_only
    return render(example, task, **{**options, "label_set": list(example.labels)})[0], items_only


def without_word_level(example: Example) -> Example:
    """A copy of ``example`` with no spans, relations or events (the text level only).

    Example:
        >>> without_word_level(Example("a", labels=["x"], spans=[])).spans
        []
    """
    return dataclasses.replace(example, spans=[], relations=[], events=[])


def merge_with_gold(predicted: Example, gold: Example, condition: str) -> Example:
    """Complete a conditioned prediction with the level its input was given.

    Example:
        >>> merge_with_gold(Example("a", labels=[], spans=[]), Example("a", labels=["x"]), "text").labels
        ['x']
    """
    if condition == "text":
        predicted.labels = list(gold.labels)
    elif condition == "word":
        predicted.spans = None if gold.spans is None else list(gold.spans)
        predicted.relations, predicted.events = list(gold.relations), list(gold.events)
    return predicted


def check_choice(value: str, allowed: Sequence[str], name: str) -> None:
    """Raise ``E202`` unless ``value`` is one of ``allowed``.

    Example:
        >>> check_choice("oiellm", FORMATS, "format")
    """
    if value not in allowed:
        raise MrekitError("E202", f"unknown {name} {value!r}", field=name, hint=f"use one of {', '.join(allowed)}")
