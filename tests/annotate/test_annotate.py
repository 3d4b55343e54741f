"""``mrekit.annotate``: readers, shards, errors, resume, crash safety, workers, refusals."""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path

import pytest

import mrekit
from mrekit.annotate import ENGINES, sinks
from mrekit.annotate.sources import BadRow, ReadOptions, Record, estimate_documents, expand_inputs, iter_documents
from mrekit.annotate.state import MANIFEST
from mrekit.encoder.model import MREModel
from mrekit.errors import MrekitError
from mrekit.outputs import MARKER, atomic_dir
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=1, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)
SHARD = 5


@pytest.fixture(scope="module")
def model_dir(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    MREModel(mode="mre", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=ARGS, output_dir=out)
    return out / "model-best"


def make_corpus(folder: Path, texts: list[str]) -> tuple[list[str], set[tuple[str, int | None, str]]]:
    """Inputs in every format under ``folder/docs``: (the ids of the good rows in order, the bad rows)."""
    docs = folder / "docs"
    docs.mkdir()
    ids: list[str] = []
    bad: set[tuple[str, int | None, str]] = set()
    lines = [json.dumps({"id": f"j{i}", "text": texts[i], "lang": "en"}) for i in range(5)]
    lines += ['{"id": "broken", "text": ', json.dumps({"id": "x", "body": "no text key"}), json.dumps({"text": 42})]
    lines += [json.dumps({"text": "  "}), json.dumps({"id": 7, "text": texts[5]}), json.dumps({"text": texts[6]})]
    (docs / "a.jsonl").write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "caf\xe9"}\n\n')
    ids += [f"j{i}" for i in range(5)] + ["7", "a:11"]
    bad |= {("a.jsonl", 6, "E103"), ("a.jsonl", 7, "E104"), ("a.jsonl", 8, "E104"), ("a.jsonl", 9, "E104")}
    bad |= {("a.jsonl", 12, "E102")}
    (docs / "b.txt").write_text(f"{texts[7]}\n\n{texts[8]}\n{texts[9]}\n")
    ids += ["b:1", "b:3", "b:4"]
    (docs / "c.csv").write_text(f'id,text,lang\nc1,"{texts[10]}",en\nc2,,en\nc3,"{texts[11]}",en\n')
    ids += ["c1", "c3"]
    bad |= {("c.csv", 3, "E104")}
    (docs / "d.tsv").write_text(f"text\tscore\n{texts[0]}\t1\n{texts[1]}\t2\textra\n")
    ids += ["d:2"]
    bad |= {("d.tsv", 3, "E104")}
    if _has_pyarrow():
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"id": ["p1", None, "p3"], "text": [texts[2], texts[3], None], "n": [1, 2, 3]})
        pq.write_table(table, docs / "e.parquet")
        ids += ["p1", "e:2"]
        bad |= {("e.parquet", 3, "E104")}
    return ids, bad


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def corpus(tmp_path, snips_mini):
    ids, bad = make_corpus(tmp_path, [ex.text for ex in snips_mini])
    return tmp_path / "docs", ids, bad


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for part in sorted(out.glob("part-*.jsonl")) for line in part.read_text().splitlines()]


def errors_of(out: Path) -> set[tuple[str, int | None, str]]:
    found = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert all(set(e) == {"file", "line", "code", "message"} for e in found)
    return {(Path(e["file"]).name, e["line"], e["code"]) for e in found}


def test_every_format_through_a_glob_with_ids_kept_and_bad_rows_reported(model_dir, corpus, tmp_path):
    docs, ids, bad = corpus
    seen = []
    summary = mrekit.annotate(model_dir, str(docs / "*"), tmp_path / "out", shard_size=SHARD, progress=seen.append)
    out = tmp_path / "out"
    shards = -(-len(ids) // SHARD)
    assert summary["documents"] == len(ids) and summary["errors"] == len(bad)
    assert summary["shards"] == summary["shards_written"] == shards and summary["shards_skipped"] == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER, MANIFEST, "errors.jsonl"] + [f"part-{i:05d}.jsonl" for i in range(shards)]
    )
    rows = rows_of(out)
    assert [r["id"] for r in rows] == ids  # input order, shard after shard
    assert [len(p.read_text().splitlines()) for p in sorted(out.glob("part-*"))][:-1] == [SHARD] * (shards - 1)
    assert errors_of(out) == bad
    manifest = json.loads((model_dir / "mrekit.json").read_text())
    first = rows[0]
    assert {"id", "text", "labels", "label_scores", "spans", "label_attrs", "relations", "events", "meta"} <= set(first)
    assert first["model_version"] == {"mrekit": mrekit.__version__, "weights_sha256": manifest["weights_sha256"]}
    assert first["model"]["path"] == os.path.abspath(model_dir) and first["fields"] == {"lang": "en"}
    assert first["source"] == {"file": str(docs / "a.jsonl"), "line": 1}
    assert first["labels"] and set(first["label_scores"]) == set(mrekit.load(model_dir).labels_)
    done = json.loads((out / MANIFEST).read_text())
    assert done["complete"] and done["documents"] == len(ids) and done["errors"] == len(bad)
    assert [s["documents"] for s in done["shards"].values()] == [SHARD] * (shards - 1) + [len(ids) % SHARD or SHARD]
    assert seen[-1].documents == len(ids) and seen[-1].total >= len(ids) and seen[-1].shards_written == shards


def test_no_text_and_parquet_shards(model_dir, corpus, tmp_path):
    docs, ids, _ = corpus
    mrekit.annotate(model_dir, [docs / "a.jsonl", docs / "b.txt"], tmp_path / "plain", include_text=False)
    rows = rows_of(tmp_path / "plain")
    assert rows and all("text" not in r for r in rows) and rows[0]["id"] == "j0"
    pq = pytest.importorskip("pyarrow.parquet")
    summary = mrekit.annotate(model_dir, str(docs / "*"), tmp_path / "pq", shard_size=SHARD, fmt="parquet")
    parts = sorted((tmp_path / "pq").glob("part-*.parquet"))
    assert len(parts) == summary["shards"] and not list((tmp_path / "pq").glob("part-*.jsonl"))
    table = pq.read_table(parts[0])
    assert table.column_names[:3] == ["id", "text", "labels"]
    assert pq.read_schema(parts[-1]) == table.schema  # one schema for every shard
    got = [i for part in parts for i in pq.read_table(part, columns=["id"]).column("id").to_pylist()]
    assert got == ids
    first = table.slice(0, 1).to_pylist()[0]
    assert json.loads(first["fields"]) == {"lang": "en"} and dict(first["label_scores"])


def test_resume_writes_only_the_missing_shard(model_dir, corpus, tmp_path):
    docs, ids, bad = corpus
    out = tmp_path / "out"
    mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD)
    parts = sorted(out.glob("part-*.jsonl"))
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts}
    lost = parts[-1]
    complete = lost.read_bytes()
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["shards"][lost.stem.removeprefix("part-")]  # killed between the shard and its manifest entry
    manifest["complete"] = False
    (out / MANIFEST).write_text(json.dumps(manifest))
    lost.unlink()
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD)
    assert err.value.code == "E170" and "--resume" in str(err.value)
    summary = mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD, resume=True, workers=1)
    assert summary["shards_written"] == 1 and summary["shards_skipped"] == len(parts) - 1
    assert summary["documents"] + summary["documents_skipped"] == len(ids)
    assert lost.read_bytes() == complete
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts[:-1]}
    assert after == {k: v for k, v in before.items() if k != lost.name}  # finished shards are untouched
    assert [r["id"] for r in rows_of(out)] == ids  # every id exactly once
    assert errors_of(out) == bad and json.loads((out / MANIFEST).read_text())["complete"]
    again = mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD, resume=True)
    assert again["shards_written"] == 0 and again["documents"] == 0 and again["documents_skipped"] == len(ids)


def test_resume_refuses_other_inputs_settings_or_model(model_dir, corpus, tmp_path, snips_mini, tiny_encoder):
    docs, _, _ = corpus
    out = tmp_path / "out"
    mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD)
    for kwargs, says in [({"shard_size": 4}, "shard_size: 5 -> 4"), ({"include_text": False}, "include_text")]:
        with pytest.raises(MrekitError) as err:
            mrekit.annotate(model_dir, str(docs / "*"), out, resume=True, **{"shard_size": SHARD, **kwargs})
        assert err.value.code == "E189" and says in str(err.value)
    with open(docs / "b.txt", "a") as fh:
        fh.write("one more line\n")
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD, resume=True)
    assert err.value.code == "E189" and "b.txt changed" in str(err.value)
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, docs / "a.jsonl", out, shard_size=SHARD, resume=True)
    assert err.value.code == "E189" and "missing input" in str(err.value)
    other = tmp_path / "other"  # an mrekit output that holds no annotation run
    with atomic_dir(other) as folder:
        (folder / "model.safetensors").write_text("x")
    for flags, code in [({"resume": True}, "E184"), ({"overwrite": True}, "E174"), ({}, "E170")]:
        with pytest.raises(MrekitError) as err:
            mrekit.annotate(model_dir, docs / "a.jsonl", other, **flags)
        assert err.value.code == code
    assert (other / "model.safetensors").exists()


def test_a_crash_mid_shard_leaves_no_partial_file_and_resume_completes(model_dir, corpus, tmp_path, monkeypatch):
    docs, ids, _ = corpus
    out = tmp_path / "out"
    real_write = sinks.JsonlShardWriter.write
    written = []

    def dying_write(self, row):
        if len(written) == SHARD + 2:
            raise RuntimeError("killed")
        written.append(row["id"])
        real_write(self, row)

    monkeypatch.setattr(sinks.JsonlShardWriter, "write", dying_write)
    with pytest.raises(RuntimeError, match="killed"):
        mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, MANIFEST, "part-00000.jsonl"]  # no temporary files
    assert list(json.loads((out / MANIFEST).read_text())["shards"]) == ["00000"]
    monkeypatch.setattr(sinks.JsonlShardWriter, "write", real_write)
    summary = mrekit.annotate(model_dir, str(docs / "*"), out, shard_size=SHARD, resume=True)
    assert summary["shards_skipped"] == 1 and [r["id"] for r in rows_of(out)] == ids
    fresh = tmp_path / "fresh"
    mrekit.annotate(model_dir, str(docs / "*"), fresh, shard_size=SHARD)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {p.name: p.read_bytes() for p in fresh.iterdir()}


def test_two_workers_write_the_same_files_as_one(model_dir, corpus, tmp_path):
    docs, ids, _ = corpus
    one = mrekit.annotate(model_dir, str(docs / "*"), tmp_path / "one", shard_size=SHARD, batch_size=2)
    two = mrekit.annotate(model_dir, str(docs / "*"), tmp_path / "two", shard_size=SHARD, batch_size=2, workers=2)
    assert two["documents"] == one["documents"] == len(ids) and two["shards_written"] == one["shards_written"]
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_outputs_are_refused_or_replaced_as_mrekit_outputs_are(model_dir, corpus, tmp_path):
    docs, ids, _ = corpus
    out = tmp_path / "out"
    mrekit.annotate(model_dir, docs / "a.jsonl", out, shard_size=SHARD)
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, docs / "b.txt", out)
    assert err.value.code == "E170"
    summary = mrekit.annotate(model_dir, docs / "b.txt", out, overwrite=True)
    assert summary["documents"] == 3 and sorted(p.name for p in out.glob("part-*")) == ["part-00000.jsonl"]
    assert [r["id"] for r in rows_of(out)] == ["b:1", "b:3", "b:4"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, docs / "b.txt", out, overwrite=True)
    assert err.value.code == "E174" and (out / "notes.txt").exists() and (out / "part-00000.jsonl").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("x")
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(MrekitError) as err:
            mrekit.annotate(model_dir, docs / "b.txt", foreign, **flags)
        assert err.value.code == "E174"
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, docs / "b.txt", docs)
    assert err.value.code == "E172"
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, docs / "b.txt", model_dir, overwrite=True)
    assert err.value.code == "E172"
    with pytest.raises(MrekitError) as err:
        mrekit.annotate(model_dir, docs / "b.txt", docs / "b.txt")
    assert err.value.code == "E173"
    assert sorted(p.name for p in docs.iterdir())[:2] == ["a.jsonl", "b.txt"]


def test_settings_engines_and_inputs_are_checked_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as on an install without the ray extra
    monkeypatch.delitem(ENGINES, "ray", raising=False)
    text = tmp_path / "t.txt"
    text.write_text("play muse\n")
    cases = [
        ({"engine": "ray"}, "E220", "ray extra"),
        ({"engine": "spark"}, "E220", "known: local"),
        ({"fmt": "xml"}, "E183", "format"),
        ({"shard_size": 0}, "E183", "shard_size"),
        ({"workers": 0}, "E183", "workers"),
        ({"txt_mode": "pages"}, "E183", "txt_mode"),
        ({"resume": True, "overwrite": True}, "E183", "give one"),
        ({}, "E100", "model folder not found"),
    ]
    for kwargs, code, says in cases:
        with pytest.raises(MrekitError) as err:
            mrekit.annotate(tmp_path / "no-model", text, tmp_path / "out", **kwargs)
        assert err.value.code == code and says in str(err.value), (kwargs, str(err.value))
    (tmp_path / "t.docx").write_text("x")
    for inputs, code in [(tmp_path / "t.docx", "E131"), (str(tmp_path / "*.md"), "E100"), (tmp_path, "E100")]:
        with pytest.raises(MrekitError) as err:
            mrekit.annotate(tmp_path / "no-model", inputs, tmp_path / "out")
        assert err.value.code == code
    assert not (tmp_path / "out").exists()


def test_readers_stream_rows_with_lines_and_codes(tmp_path):
    csv_path = tmp_path / "notes.csv"
    csv_path.write_bytes(b'text,id\n"two\nlines",n1\nplain,\n"caf\xe9",n3\nlast,n4\n')
    assert list(iter_documents([csv_path])) == [
        Record(str(csv_path), 2, "n1", "two\nlines"),
        Record(str(csv_path), 4, "notes:4", "plain"),
        BadRow(str(csv_path), 5, "E102", "the row holds bytes that are not UTF-8"),
        Record(str(csv_path), 6, "n4", "last"),
    ]
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "one.txt").write_text("first page\nstill the first\n")
    (pages / "two.txt").write_text("\n\n")
    found = list(iter_documents(expand_inputs([str(pages / "*.txt")]), ReadOptions(txt_mode="file")))
    assert found[0] == Record(str(pages / "one.txt"), 1, "one", "first page\nstill the first\n")
    assert isinstance(found[1], BadRow) and found[1].code == "E104"
    body = tmp_path / "body.jsonl"
    body.write_text('{"body": "x", "key": "k1"}\n{"body": "y", "key": true}\n[1]\n{"body": "z", "score": NaN}\n')
    rows = list(iter_documents([body], ReadOptions(text_key="body", id_key="key")))
    assert rows[0] == Record(str(body), 1, "k1", "x")
    assert [(r.line, r.code) for r in rows[1:]] == [(2, "E104"), (3, "E104"), (4, "E108")]
    assert estimate_documents([body, pages / "one.txt"]) == 4 + 2
    headless = tmp_path / "h.tsv"
    headless.write_text("body\tid\nx\t1\n")
    [only] = iter_documents([headless])
    assert (only.line, only.code) == (1, "E104") and "no 'text' column" in only.message


def test_parquet_reader_reads_batches_and_reports_a_missing_column(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": [f"text {i}" for i in range(2500)], "x": [float("nan")] * 2500}), path)
    rows = list(iter_documents([path]))
    assert len(rows) == 2500 and rows[-1] == Record(str(path), 2500, "big:2500", "text 2499", {"x": None})
    assert estimate_documents([path]) == 2500
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"body": ["x"]}), wrong)
    assert [(r.line, r.code) for r in iter_documents([wrong])] == [(None, "E104")]
    (tmp_path / "fake.parquet").write_text("not parquet")
    assert [r.code for r in iter_documents([tmp_path / "fake.parquet"])] == ["E104"]


def test_mrekit_annotate_is_the_callable_package():
    import mrekit.annotate.runner

    assert callable(mrekit.annotate) and "shard_size" in inspect.signature(mrekit.annotate).parameters
    assert mrekit.annotate.annotate is mrekit.annotate.runner.annotate
    assert "annotate" in mrekit.__all__ and os.path.basename(mrekit.annotate.__file__) == "__init__.py"


def test_predict_and_annotate_share_one_streaming_path(model_dir, tmp_path, snips_mini, monkeypatch):
    from mrekit.annotate import engines
    from mrekit.cli import predict as predict_module
    from mrekit.predictor import stream_predictions

    assert predict_module.stream is stream_predictions and engines.stream_predictions is stream_predictions
    calls = []

    def spy(nlp, examples, **options):
        calls.append(options)
        return stream_predictions(nlp, examples, **options)

    monkeypatch.setattr(engines, "stream_predictions", spy)
    texts = [ex.text for ex in snips_mini[:7]]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    mrekit.annotate(model_dir, [tmp_path / "in.txt"], tmp_path / "out", shard_size=3, batch_size=2)
    assert calls == [{"batch_size": 2}] * 3  # one call per shard
    predict_module.predict(model_dir, tmp_path / "in.txt", tmp_path / "pred.jsonl", batch_size=2)
    predicted = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    annotated = rows_of(tmp_path / "out")
    assert [r["id"] for r in annotated] == [f"in:{r['id']}" for r in predicted]
    for row, pred in zip(annotated, predicted, strict=True):
        assert (row["labels"], row["spans"]) == (pred["labels"], pred["spans"])
        # shards batch other texts together than predict's chunks: padding moves scores by float noise only
        assert row["label_scores"] == pytest.approx(pred["label_scores"], abs=1e-5)
