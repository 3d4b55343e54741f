from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrekit import Example, MrekitError, Span
from mrekit.formats import bio


def make_folder(path, seq_in: list[str], seq_out: list[str], labels: list[str] | None):
    path.mkdir()
    (path / "seq.in").write_text("\n".join(seq_in) + "\n")
    (path / "seq.out").write_text("\n".join(seq_out) + "\n")
    if labels is not None:
        (path / "label").write_text("\n".join(labels) + "\n")
    return path


def test_reads_snips_lines_with_char_offsets(fixtures):
    examples = list(bio.read(fixtures / "bio_mini", source="snips"))
    assert len(examples) == 12
    first = examples[0]
    assert first.text == "add sabrina salerno to the grime instrumentals playlist"
    assert first.labels == ["AddToPlaylist"]
    assert [(s.start, s.end, s.label) for s in first.spans] == [(4, 19, "artist"), (27, 46, "playlist")]
    assert first.meta == {"source": "snips"}
    # a trailing space in seq.in does not leak into the text
    assert examples[1].text.endswith("churrascaria cuisine")


def test_multi_intent_split_is_optional(tmp_path):
    folder = make_folder(
        tmp_path / "test", ["fare of ua 1"], ["O O B-airline B-flight"], ["atis_airfare#atis_flight_no"]
    )
    (whole,) = bio.read(folder)
    (split,) = bio.read(folder, label_sep="#")
    assert whole.labels == ["atis_airfare#atis_flight_no"]
    assert split.labels == ["atis_airfare", "atis_flight_no"]
    assert whole.meta == {"split": "test"}
    assert [(s.start, s.end, s.label) for s in whole.spans] == [(8, 10, "airline"), (11, 12, "flight")]


def test_stray_inside_tag_opens_a_span_like_conlleval(tmp_path):
    folder = make_folder(tmp_path / "d", ["a b c d"], ["I-x I-x O I-y"], ["L"])
    (ex,) = bio.read(folder)
    assert [(s.start, s.end, s.label) for s in ex.spans] == [(0, 3, "x"), (6, 7, "y")]


def test_label_file_is_optional(tmp_path):
    folder = make_folder(tmp_path / "d", ["a b"], ["O B-x"], None)
    (ex,) = bio.read(folder)
    assert ex.labels == [] and not ex.has_text_level and ex.spans == [Span(2, 3, "x")]


def test_token_tag_count_mismatch(tmp_path):
    folder = make_folder(tmp_path / "d", ["a b", "a b c"], ["O O", "O O"], ["L", "L"])
    with pytest.raises(MrekitError) as info:
        list(bio.read(folder))
    assert (
        str(info.value)
        == f"[E120] {folder / 'seq.out'}:2: 3 tokens in seq.in but 2 tags in seq.out (each token needs exactly one tag)"
    )


def test_line_count_mismatch(tmp_path):
    folder = make_folder(tmp_path / "d", ["a", "b"], ["O", "O"], ["L"])
    with pytest.raises(MrekitError) as info:
        list(bio.read(folder))
    assert info.value.code == "E122" and info.value.path == str(folder / "label")


def test_malformed_tag(tmp_path):
    folder = make_folder(tmp_path / "d", ["a b"], ["O X-y"], ["L"])
    with pytest.raises(MrekitError) as info:
        list(bio.read(folder))
    assert (info.value.code, info.value.line) == ("E121", 1)


def test_empty_folder_files(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    for name in ("seq.in", "seq.out", "label"):
        (folder / name).write_text("")
    with pytest.raises(MrekitError, match=r"\[E101\]"):
        list(bio.read(folder))


def test_missing_folder():
    with pytest.raises(MrekitError, match=r"\[E100\] nowhere: folder not found"):
        list(bio.read("nowhere"))


def test_write_refuses_text_that_would_change(tmp_path):
    ex = Example("play muse's song", labels=["PlayMusic"], spans=[Span(5, 9, "artist")])
    with pytest.raises(MrekitError) as info:
        bio.write([ex], tmp_path / "out")
    assert info.value.code == "E123" and "conll" in info.value.hint
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_write_multi_label_and_bilou(tmp_path):
    ex = Example("fare of ua 1 2", labels=["a", "b"], spans=[Span(8, 10, "airline"), Span(11, 14, "num")])
    bio.write([ex], tmp_path / "out", scheme="BILOU")
    assert (tmp_path / "out" / "seq.out").read_text() == "O O U-airline B-num L-num\n"
    assert (tmp_path / "out" / "label").read_text() == "a#b\n"
    (back,) = bio.read(tmp_path / "out", label_sep="#")
    assert back.labels == ["a", "b"] and back.spans == ex.spans


_word = st.text(alphabet="abcdé東", min_size=1, max_size=5)


@st.composite
def tagged(draw):
    words = draw(st.lists(_word, min_size=1, max_size=8))
    tags, i = [], 0
    while i < len(words):
        if draw(st.booleans()):
            tags.append("O")
            i += 1
            continue
        length = draw(st.integers(1, len(words) - i))
        label = draw(st.sampled_from(["x", "y.z"]))
        tags += [f"B-{label}"] + [f"I-{label}"] * (length - 1)
        i += length
    return words, tags, draw(st.sampled_from(["L1", "L2"]))


@settings(max_examples=100, deadline=None)
@given(st.lists(tagged(), min_size=1, max_size=5))
def test_property_bio_round_trip(tmp_path_factory, rows):
    folder = make_folder(
        tmp_path_factory.mktemp("bio") / "d",
        [" ".join(w) for w, _, _ in rows],
        [" ".join(t) for _, t, _ in rows],
        [r[2] for r in rows],
    )
    examples = list(bio.read(folder))
    out = folder.parent / "out"
    bio.write(examples, out)
    assert (out / "seq.in").read_text() == (folder / "seq.in").read_text()
    assert (out / "seq.out").read_text() == (folder / "seq.out").read_text()
    assert list(bio.read(out)) == [
        Example(e.text, id=e.id.replace("d-", "out-"), labels=e.labels, spans=e.spans) for e in examples
    ]
