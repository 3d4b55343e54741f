from __future__ import annotations

import pytest

from mrekit import Example
from mrekit.formats.oiellm import parse_oiellm
from mrekit.generative.engine import _stripped
from mrekit.generative.metrics import entity_strings, format_accuracy, generation_metrics, hallucination_rate
from mrekit.generative.spec import OutputSpec

SPEC = OutputSpec(labels=["GetWeather", "PlayMusic"], types=["artist", "city"])


def test_format_accuracy_uses_the_label_and_type_sets():
    outputs = [
        "PlayMusic/NER/:artist;muse",  # ok
        "PlayMusic/NER/",  # ok: no items
        "PlayMusic/NER/:singer;muse",  # unknown type
        "Dance/NER/:artist;muse",  # unknown label
        "PlayMusic/NER:artist;muse",  # no '/' after the task marker
        "PlayMusic/NER/:artist",  # item without ';'
        "",
        "PlayMusic",
    ]
    assert format_accuracy(outputs, SPEC) == pytest.approx(2 / 8)
    assert format_accuracy([], SPEC) == 0.0


def test_hallucination_rate_counts_entity_strings_not_in_the_text():
    texts = ["play muse", "weather in paris", "play muse"]
    outputs = ["PlayMusic/NER/:artist;muse:artist;queen", "GetWeather/NER/:city; paris ", "PlayMusic/NER/"]
    assert hallucination_rate(texts, outputs, SPEC) == pytest.approx(1 / 3)
    assert hallucination_rate(["x"], ["PlayMusic/NER/"], SPEC) == 0.0


def test_entity_strings_of_relations_and_events():
    rel = OutputSpec(kind="relations", task="Relation Extraction", types=["born_in"], labels=[])
    assert entity_strings(rel.parse("/Relation Extraction/:Obama;born_in;Hawaii")) == ["Obama", "Hawaii"]
    ev = OutputSpec(kind="events", task="Event Extraction", types=["Attack"], roles=["Target"], labels=[])
    assert entity_strings(ev.parse("/Event Extraction/:Attack;fired;Target;Mary")) == ["fired", "Mary"]


def test_generation_metrics_from_prediction_meta():
    preds = [
        Example("a", meta={"format_ok": True, "entities": 3, "hallucinated": []}),
        Example("b", meta={"format_ok": False, "entities": 1, "hallucinated": ["z"]}),
        Example("c"),  # not from a generative model: skipped
    ]
    assert generation_metrics(preds) == {"format_accuracy": 0.5, "hallucination_rate": 0.25, "n_entities": 4}
    assert generation_metrics([])["format_accuracy"] is None


def test_whitespace_only_entities_are_format_errors():
    parsed = _stripped(parse_oiellm("PlayMusic/NER/:artist; :city; paris", types={"artist", "city"}))
    assert parsed.pairs == [("city", "paris")] and not parsed.ok
