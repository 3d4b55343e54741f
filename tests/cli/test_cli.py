from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mrekit.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_convert_bio_to_jsonl_and_back(tmp_path, fixtures):
    out = tmp_path / "mini.jsonl"
    result = run("convert", fixtures / "bio_mini", out)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 12
    assert json.loads(lines[0])["spans"][1] == {
        "start": 27,
        "end": 46,
        "label": "playlist",
        "text": "grime instrumentals",
    }
    back = tmp_path / "back"
    assert run("convert", out, back, "--to", "bio").exit_code == 0
    assert (back / "seq.out").read_text().splitlines()[0] == "O B-artist I-artist O O B-playlist I-playlist O"


def test_convert_builtin_snips(tmp_path):
    out = tmp_path / "t.conll"
    result = run("convert", "snips:test", out, "--to", "conll")
    assert result.exit_code == 0 and "wrote 700 examples" in result.output
    assert out.read_text().count("# text = ") == 700


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"text": "a"}\n{"text": \n', "[E103] {path}:2: malformed JSON"),
        (b'{"text": "ab", "spans": [{"start": 0, "end": 9, "label": "x"}]}\n', "[E110] {path}:1 field 'spans[0]'"),
        (b"", "[E101] {path}: no examples in file"),
        (b'{"text": "ok"}\n{"text": "\xff"}\n', "[E102] {path}:2: byte 0xff"),
    ],
)
def test_bad_input_one_line_error_and_no_output(tmp_path, content, expected):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    out = tmp_path / "out.conll"
    result = run("convert", bad, out, "--to", "conll")
    assert result.exit_code == 1
    assert expected.format(path=bad) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_bio_count_mismatch_error(tmp_path, fixtures):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "seq.in").write_text("a b\n")
    (folder / "seq.out").write_text("O\n")
    (folder / "label").write_text("L\n")
    result = run("convert", folder, tmp_path / "o.jsonl")
    assert result.exit_code == 1
    assert f"[E120] {folder / 'seq.out'}:1: 2 tokens in seq.in but 1 tags in seq.out" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_unknown_format_errors(tmp_path, fixtures):
    result = run("convert", fixtures / "mini.conll", tmp_path / "o", "--to", "xml")
    assert result.exit_code == 1 and "[E130] unknown format 'xml'" in result.output
    result = run("convert", fixtures / "mini.conll", tmp_path / "o", "--from", "csv")
    assert result.exit_code == 1 and "[E130]" in result.output
    result = run("stats", tmp_path / "missing.jsonl")
    assert result.exit_code == 1 and "[E100]" in result.output


def test_validate_lists_every_problem(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(
        '{"text": "ab", "spans": [{"start": 0, "end": 1, "label": "x"}]}\n'
        '{"text": "ab", "spans": [{"start": 0, "end": 3, "label": "x"}]}\n'
        "not json\n"
        '{"text": "ab", "spans": [{"start": 0, "end": 2, "label": "x", "text": "zz"}]}\n'
    )
    result = run("validate", data)
    assert result.exit_code == 1
    assert "3 problem(s)" in result.output
    for code in ("E110", "E103", "E112"):
        assert code in result.output
    ok = run("validate", "snips:dev")
    assert ok.exit_code == 0 and "700 examples, no problems" in ok.output


def test_validate_overlap_flag(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(
        '{"text": "abc", "spans": [{"start": 0, "end": 2, "label": "x"}, {"start": 1, "end": 3, "label": "y"}]}\n'
    )
    assert run("validate", data).exit_code == 0
    result = run("validate", data, "--no-allow-overlap")
    assert result.exit_code == 1 and "E113" in result.output


def test_stats_json_and_plot(tmp_path, fixtures):
    plot = tmp_path / "cooc.png"
    result = run("stats", fixtures / "bio_mini", "--json", "--plot", plot)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[: result.output.rindex("}") + 1])
    assert data["n_examples"] == 12
    assert data["text_labels"]["AddToPlaylist"] == sum(
        1 for name in (fixtures / "bio_mini" / "label").read_text().split() if name == "AddToPlaylist"
    )
    assert 0 < data["mutual_information"]["mi"] <= data["mutual_information"]["h_text"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_prints_cooccurrence_table():
    result = run("stats", "snips:test", "--top", "3")
    assert result.exit_code == 0
    assert "Text label × span label co-occurrence" in result.output
    assert "Mutual information I(text; span)" in result.output


def test_help_explains_commands():
    result = run("--help")
    for command in ("convert", "validate", "stats", "evaluate"):
        assert command in result.output
    assert "--from" in run("convert", "--help").output


def test_convert_infers_the_output_format_from_the_suffix(tmp_path, fixtures):
    pytest.importorskip("spacy")
    from mrekit.formats import spacy as mspacy

    out = tmp_path / "train.spacy"
    result = run("convert", fixtures / "ja_ner.jsonl", out)
    assert result.exit_code == 0, result.output
    assert "wrote 8 examples" in result.output and "(spacy)" in result.output
    assert out.read_bytes()[:1] != b"{"  # a DocBin, not JSONL
    assert [e.spans for e in mspacy.read(out)][0][0].label == "その他の組織名"
    conll = tmp_path / "ja.conll"
    assert run("convert", out, conll).exit_code == 0 and conll.read_text().startswith("# id = stockmark-3572156")


@pytest.mark.parametrize(
    ("name", "flags", "expected"),
    [
        ("y.spacy", ["--to", "jsonl"], "[E135] {out}: --to jsonl contradicts the output name: a .spacy file is spacy"),
        ("y.conll", ["--to", "bio"], "[E135] {out}: --to bio writes a folder, but the output name has the file suffix"),
        ("y.json", [], "[E131] {out}: a .json output could be one of several formats"),
    ],
)
def test_convert_refuses_a_format_the_output_name_contradicts(tmp_path, fixtures, name, flags, expected):
    out = tmp_path / name
    result = run("convert", fixtures / "ja_ner.jsonl", out, *flags)
    assert result.exit_code == 1
    assert expected.format(out=out) in " ".join(result.output.split())
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("fmt", "name"), [("labelstudio", "tasks.json"), ("doccano", "doccano.jsonl")])
def test_convert_to_annotation_tools_and_back(tmp_path, fixtures, fmt, name):
    out = tmp_path / name
    result = run("convert", fixtures / "ja_ner.jsonl", out, "--to", fmt)
    assert result.exit_code == 0 and f"({fmt})" in result.output, result.output
    back = tmp_path / "back.jsonl"
    assert run("convert", out, back).exit_code == 0  # --from inferred from the content
    original = [json.loads(line) for line in (fixtures / "ja_ner.jsonl").read_text().splitlines()]
    for want in original:  # the fixture declares span surfaces; the round trip keeps offsets
        for span in want["spans"]:
            span.pop("text", None)
    got = [json.loads(line) for line in back.read_text().splitlines()]
    for item in got:
        for span in item.get("spans", []):
            span.pop("text", None)
    assert got == original


def test_convert_to_stdout_defaults_to_jsonl_and_follows_to(tmp_path, fixtures):
    result = run("convert", fixtures / "ja_ner.jsonl", "-", "--to", "doccano")
    assert result.exit_code == 0
    first = json.loads(result.stdout.splitlines()[0])
    assert first["label"] == [[0, 7, "その他の組織名"]] and "spans" not in first
