"""Format accuracy and hallucination rate of generated outputs.

* **format accuracy**: the share of outputs that parse with no error under the
  model's task word, label set and type set (an unknown label or type, a
  missing ``/TASK/`` marker, an item without ``;`` all count as errors);
* **hallucination rate**: the share of entity strings in well-formed items that
  do not occur in the input text (relation heads and tails, event triggers and
  arguments count one each). Surrounding whitespace is ignored, as when the
  entities are located. It is 0 when no entity was generated.

With constrained decoding both are guaranteed: format accuracy 1 and
hallucination rate 0 (for a tokenizer that decodes the input's tokens back to
the input's characters, as mrekit's own does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mrekit.formats.items import EventItem, ParsedOutput, RelationItem, SpanItem
from mrekit.generative.spec import OutputSpec
from mrekit.schema import Example


def entity_strings(parsed: ParsedOutput) -> list[str]:
    """The entity strings of the well-formed items, whitespace-stripped, in output order.

    Example:
        >>> from mrekit.formats.oiellm import parse_oiellm
        >>> entity_strings(parse_oiellm("A/NER/:artist; muse"))
        ['muse']
    """
    out: list[str] = []
    for item in parsed.items:
        if isinstance(item, SpanItem):
            out.append(item.surface.strip())
        elif isinstance(item, RelationItem):
            out += [item.head.strip(), item.tail.strip()]
        elif isinstance(item, EventItem):
            out += [item.trigger.strip(), *(arg.strip() for _, arg in item.args)]
    return out


def format_accuracy(outputs: Sequence[str], spec: OutputSpec) -> float:
    """Share of ``outputs`` that parse without error under ``spec``.

    Example:
        >>> spec = OutputSpec(labels=["PlayMusic"], types=["artist"])
        >>> format_accuracy(["PlayMusic/NER/:artist;muse", "PlayMusic/NER/:singer;muse", "garbage"], spec)
        0.3333333333333333
    """
    if not outputs:
        return 0.0
    return sum(spec.parse(output).ok for output in outputs) / len(outputs)


def hallucination_rate(texts: Sequence[str], outputs: Sequence[str], spec: OutputSpec) -> float:
    """Share of generated entity strings that are not substrings of their input text.

    Example:
        >>> spec = OutputSpec(labels=["PlayMusic"], types=["artist"])
        >>> hallucination_rate(["play muse"], ["PlayMusic/NER/:artist;muse:artist;queen"], spec)
        0.5
    """
    total = missing = 0
    for text, output in zip(texts, outputs, strict=True):
        strings = entity_strings(spec.parse(output))
        total += len(strings)
        missing += sum(not s or s not in text for s in strings)
    return missing / total if total else 0.0


def generation_metrics(predictions: Sequence[Example]) -> dict[str, Any]:
    """Format accuracy and hallucination rate of predictions made by a generative model.

    Reads what :meth:`~mrekit.generative.engine.GenerativeModel.predict` records in
    each example's ``meta`` (``format_ok``, ``entities``, ``hallucinated``);
    examples without it are skipped.

    Example:
        >>> preds = [Example("a", meta={"format_ok": True, "entities": 2, "hallucinated": ["x"]}),
        ...          Example("b", meta={"format_ok": False, "entities": 0, "hallucinated": []})]
        >>> generation_metrics(preds)
        {'format_accuracy': 0.5, 'hallucination_rate': 0.5, 'n_entities': 2}
    """
    rows = [ex.meta for ex in predictions if "format_ok" in ex.meta]
    total = sum(row.get("entities", 0) for row in rows)
    missing = sum(len(row.get("hallucinated", [])) for row in rows)
    return {
        "format_accuracy": sum(bool(row["format_ok"]) for row in rows) / len(rows) if rows else None,
        "hallucination_rate": missing / total if total else 0.0,
        "n_entities": total,
    }
