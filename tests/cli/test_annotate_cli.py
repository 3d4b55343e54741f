"""``mrekit annotate``: options, progress lines, the summary line and coded errors."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from mrekit.annotate import ENGINES, AnnotateProgress
from mrekit.annotate.state import MANIFEST
from mrekit.cli import app
from mrekit.cli.annotate import PlainProgress, _duration
from mrekit.encoder.model import MREModel
from mrekit.trainer import TrainingArguments

runner = CliRunner()
ARGS = TrainingArguments(epochs=1, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)


@pytest.fixture(scope="module")
def model_dir(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    MREModel(mode="shared", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    return out


def run(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture
def inputs(tmp_path, snips_mini):
    docs = tmp_path / "docs"
    docs.mkdir()
    texts = [ex.text for ex in snips_mini]
    (docs / "a.jsonl").write_text("".join(json.dumps({"doc": f"d{i}", "body": t}) + "\n" for i, t in enumerate(texts)))
    (docs / "b.txt").write_text("\n".join(texts[:3]) + "\n")
    (docs / "bad.jsonl").write_text('{"body": ""}\n{"doc": "z"}\n')
    return docs


def test_annotate_a_glob_with_plain_progress_and_a_summary(model_dir, inputs, tmp_path):
    out = tmp_path / "out"
    args = ("annotate", model_dir, inputs / "*.jsonl", inputs / "b.txt", "-o", out, "--shard-size", 5)
    result = run(*args, "--text-key", "body", "--id-key", "doc", "--no-text", "--batch-size", 2)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for part in sorted(out.glob("part-*.jsonl")) for line in part.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(12)] + ["b:1", "b:2", "b:3"]
    assert all("text" not in r for r in rows) and len(list(out.glob("part-*.jsonl"))) == 3
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["code"]) for e in errors] == [(1, "E104"), (2, "E104")]
    assert "annotated 15/" in result.stderr and "docs/s, ETA" in result.stderr  # not a terminal: plain lines
    assert "annotated 15 documents in 3 shards, 2 bad rows in" in result.stdout

    result = run(*args, "--text-key", "body", "--id-key", "doc", "--no-text")
    assert result.exit_code == 1 and "[E170]" in result.output and "--resume" in result.output
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["shards"]["00002"]
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "part-00002.jsonl").unlink()
    result = run(*args, "--text-key", "body", "--id-key", "doc", "--no-text", "--resume", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "annotated 5 documents in 1 shard (2 finished shards of 10 documents skipped)" in result.stdout
    result = run(*args, "--text-key", "body", "--id-key", "doc", "--resume")  # --text: other settings
    assert result.exit_code == 1 and "[E189]" in result.output and "include_text" in result.output


def test_parquet_format_and_txt_file_mode(model_dir, inputs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out"
    result = run("annotate", model_dir, inputs / "b.txt", "-o", out, "--format", "parquet", "--txt-mode", "file")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out / "part-00000.parquet")
    assert table.column("id").to_pylist() == ["b"] and table.column("text").to_pylist()[0].count("\n") == 3


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--engine", "ray"), "[E220] field 'engine': the ray engine needs the ray extra"),
        (("--engine", "dask"), "[E220] field 'engine': unknown annotation engine 'dask'"),
        (("--format", "csv"), "[E183] field 'format'"),
        (("--shard-size", "0"), "[E183] field 'shard_size'"),
        (("--resume", "--overwrite"), "[E183]"),
    ],
)
def test_bad_options_are_coded_errors(tmp_path, extra, says, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as on an install without the ray extra
    monkeypatch.delitem(ENGINES, "ray", raising=False)
    text = tmp_path / "t.txt"
    text.write_text("play muse\n")
    result = run("annotate", tmp_path / "model", text, "-o", tmp_path / "out", *extra)
    assert result.exit_code == 1 and says in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_help_has_examples_and_every_option():
    result = run("annotate", "-h", terminal_width=150)
    assert result.exit_code == 0 and "Examples" in result.output
    for option in ("--output", "--format", "--shard-size", "--workers", "--resume", "--overwrite", "--text-key"):
        assert option in result.output
    assert "--id-key" in result.output and "--txt-mode" in result.output and "--no-text" in result.output
    assert "--engine" in result.output and "<bool>" not in result.output


def test_plain_progress_prints_after_each_shard(capsys):
    show = PlainProgress(every=3600)
    show(AnnotateProgress(documents=3, total=10, annotated=3, seconds=1.0))
    show(AnnotateProgress(documents=5, total=10, annotated=5, seconds=1.0, shards_written=1))
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["annotated 5/10 documents, 1 shard (5 docs/s, ETA 1s, 0 bad rows)"]
    assert _duration(75) == "1m15s"
