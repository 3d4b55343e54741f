from __future__ import annotations

import pytest

from mrekit import Example, MrekitError, Span
from mrekit.fewshot import names_verbalizer, read_verbalizer, sample_shots, wli_verbalizer, write_verbalizer
from mrekit.fewshot.verbalizers import label_words


def test_label_names_become_phrases():
    assert label_words(["PlayMusic", "SearchScreeningEvent", "anecdotes/miscellaneous"]) == {
        "PlayMusic": "play music",
        "SearchScreeningEvent": "search screening event",
        "anecdotes/miscellaneous": "anecdotes miscellaneous",
    }
    assert names_verbalizer(["atis_flight", "atis_airfare"]).words == {
        "atis_flight": ["flight"],
        "atis_airfare": ["airfare"],
    }


def shots():
    return [
        Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]),
        Example("play muse now", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]),
        Example("play jazz", labels=["PlayMusic"], spans=[Span(5, 9, "genre")]),
        Example("rain in rome", labels=["GetWeather"], spans=[Span(8, 12, "city")]),
        Example("jazz bars in rome", labels=["GetWeather"], spans=[Span(0, 4, "genre"), Span(13, 17, "city")]),
    ]


def test_wli_ranks_by_frequency_times_specificity():
    # jazz is seen once under each label: P(label | jazz) = 0.5, below the default 0.7, so it is left out
    v = wli_verbalizer(shots())
    assert v.words == {"GetWeather": ["get weather", "rome"], "PlayMusic": ["play music", "muse"]}
    assert v.weights["PlayMusic"] == pytest.approx([2.0, 2.0])  # muse: 2 * 1.0; the name gets the best score
    loose = wli_verbalizer(shots(), min_specificity=0.5)
    assert loose.words["PlayMusic"] == ["play music", "muse", "jazz"]
    assert loose.weights["PlayMusic"][1:] == pytest.approx([2.0, 0.5])  # jazz: 1 * 0.5
    assert loose.words["GetWeather"] == ["get weather", "rome", "jazz"]


def test_wli_uses_span_only_pool_through_span_labels():
    pool = [Example("blur", spans=[Span(0, 4, "artist")]), Example("paris", spans=[Span(0, 5, "city")])]
    v = wli_verbalizer(shots(), pool=pool, top_k=1)
    assert v.words["PlayMusic"] == ["play music", "muse"]  # top_k keeps the best word only
    full = wli_verbalizer(shots(), pool=pool)
    assert "blur" in full.words["PlayMusic"] and "blur" not in full.words["GetWeather"]
    assert "paris" in full.words["GetWeather"]


def test_verbalizer_file_round_trip_and_errors(tmp_path):
    v = wli_verbalizer(shots())
    path = tmp_path / "v.txt"
    write_verbalizer(v, path)
    assert path.read_text().splitlines()[0] == "GetWeather,get weather,rome"
    assert read_verbalizer(path).words == v.words
    bad = tmp_path / "bad.txt"
    bad.write_text("PlayMusic,song\nGetWeather\n")
    with pytest.raises(MrekitError) as info:
        read_verbalizer(bad)
    assert (info.value.code, info.value.line) == ("E104", 2)


def test_sample_shots_is_seeded_and_capped():
    data = [Example(f"t{i}", labels=["a"] if i < 3 else ["b"]) for i in range(20)]
    first = sample_shots(data, 4, seed=1)
    assert [e.text for e in first] == [e.text for e in sample_shots(data, 4, seed=1)]
    assert sum(e.labels == ["a"] for e in first) == 3  # label a has only 3 examples
    assert sum(e.labels == ["b"] for e in first) == 4
    assert [e.text for e in sample_shots(data, 4, seed=2)] != [e.text for e in first]
