"""Fuzz the edges a user's data reaches: ``validate``, ``convert`` and the HTTP server.

Hypothesis generates hostile JSONL lines, BIO folders, CoNLL files and request bodies
for a bounded time per target and counts, per target: cases tried, accepted inputs,
coded errors (``MrekitError`` / HTTP 4xx in the documented error shape), crashes
(any other exception, or HTTP 5xx) and data lost (an input changed by ``convert``, or a
file beside the output touched). Crashes and data lost must be 0.

Results go to ``bench/results/reliability.json``; the first crashes are kept there
(input and traceback) so that each can become a regression test.

Usage::

    .venv/bin/python bench/fuzz.py --seconds 60          # 60 s per target
    .venv/bin/python bench/fuzz.py --seconds 5 --targets jsonl conll --output /tmp/r.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, run_meta  # noqa: E402

from mrekit.cli.convert import convert  # noqa: E402
from mrekit.cli.validate import validate  # noqa: E402
from mrekit.errors import MrekitError  # noqa: E402
from mrekit.metrics import summarize  # noqa: E402
from mrekit.outputs import atomic_file  # noqa: E402

TARGETS = ("jsonl", "bio", "conll", "server")
WORDS = ["play", "muse", "東京", "a", "", " ", "\t", "\u3000", "\U0001f600", "\\ud800", "\ud800", "B-x", "O", "#", "="]
word = st.sampled_from(WORDS) | st.text(max_size=6)
json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=12,
)
span = st.fixed_dictionaries(
    {"start": st.integers(-3, 30) | json_leaf, "end": st.integers(-3, 30) | json_leaf, "label": word | json_leaf},
    optional={"text": word, "attrs": json_value},
)
record = st.fixed_dictionaries(
    {"text": st.lists(word, max_size=8).map(" ".join) | json_leaf},
    optional={
        "id": st.text(max_size=3) | json_leaf,
        "labels": st.lists(word, max_size=3) | json_leaf,
        "spans": st.lists(span, max_size=4) | json_leaf,
        "relations": st.lists(
            st.fixed_dictionaries({"head": st.integers(-1, 4), "tail": st.integers(-1, 4), "label": word}), max_size=2
        )
        | json_value,
        "events": json_value,
        "meta": json_value,
    },
)


@st.composite
def valid_record(draw: st.DrawFn) -> dict[str, Any]:
    """A record that should be accepted: spans at real offsets, a relation between them."""
    text = draw(st.text(min_size=1, max_size=30))
    spans = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        spans.append({"start": start, "end": end, "label": draw(st.sampled_from(["x", "y", "東京"]))})
    rel = [{"head": 0, "tail": len(spans) - 1, "label": "r"}] if spans else []
    return {
        "id": draw(st.text(max_size=3)),
        "text": text,
        "labels": draw(st.lists(word, max_size=2)),
        "spans": spans,
        "relations": rel,
    }


raw_line = st.one_of(
    valid_record().map(lambda r: json.dumps(r, ensure_ascii=False)),
    valid_record().map(json.dumps),
    record.map(lambda r: json.dumps(r, ensure_ascii=False)),
    record.map(json.dumps),
    json_value.map(json.dumps),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.text(max_size=40),
    st.binary(max_size=30).map(lambda b: b.decode("latin-1")),
)
jsonl_file = st.lists(raw_line, min_size=0, max_size=6).map("\n".join)
tags = st.sampled_from(["O", "B-x", "I-x", "B-y", "I-y", "E-x", "S-x", "B-", "I", "x", ""])
bio_line = st.lists(st.tuples(word, tags), max_size=6)
bio_folder = st.tuples(
    st.lists(bio_line, max_size=5), st.lists(st.text(max_size=5), max_size=6), st.booleans(), st.booleans()
)
conll_block = st.tuples(
    st.lists(st.sampled_from(["# id = 1", "# text = play muse", "# label = A", "#", "# text ="]), max_size=3),
    st.lists(st.tuples(word, tags), max_size=5),
)
conll_file = st.lists(conll_block, max_size=4)
body = st.one_of(
    st.text(min_size=1, max_size=60).map(lambda t: json.dumps({"text": t}).encode()),
    st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=8).map(lambda t: json.dumps({"texts": t}).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.text(max_size=30) | json_leaf | st.just("\ud800") | st.just("   "),
            "texts": st.lists(st.text(max_size=20) | json_leaf | st.just("\udfff"), max_size=5) | json_leaf,
            "extra": json_value,
        },
    ).map(lambda b: json.dumps(b).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
)


class Tally:
    """Counts of one target, and the first crashes with their inputs."""

    def __init__(self) -> None:
        self.cases = self.accepted = self.coded = self.crashes = self.data_lost = 0
        self.codes: dict[str, int] = {}
        self.examples: list[dict[str, Any]] = []

    def coded_error(self, code: str) -> None:
        self.coded += 1
        self.codes[code] = self.codes.get(code, 0) + 1

    def crash(self, what: Any, detail: str) -> None:
        self.crashes += 1
        if len(self.examples) < 5:
            self.examples.append({"input": repr(what)[:2000], "error": detail[-2000:]})

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "accepted": self.accepted,
            "coded_errors": self.coded,
            "crashes": self.crashes,
            "data_lost": self.data_lost,
            "codes": dict(sorted(self.codes.items())),
            "crash_examples": self.examples,
        }


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def check_file_input(tally: Tally, work: Path, make_input: Callable[[Path], Path], to_formats: list[str]) -> None:
    """validate + convert one generated input; count the outcome and any lost data."""
    tally.cases += 1
    case = Path(tempfile.mkdtemp(dir=work))
    try:
        source = make_input(case)
        (case / "keep.txt").write_text("a user's file beside the output")
        before = digest(case)
        outcome = "accepted"
        try:
            validate(source)
            for fmt in to_formats:
                out = case / f"out-{fmt}"
                convert(source, out, to_format=fmt)
                convert(source, out, to_format=fmt, overwrite=True)
        except MrekitError as err:
            outcome = err.code
        except Exception:  # noqa: BLE001 - counting crashes is the point
            tally.crash(source.read_bytes() if source.is_file() else digest(source), traceback.format_exc())
            return
        after = digest(case)
        if any(after.get(k) != v for k, v in before.items()):
            tally.data_lost += 1
            tally.crash("data lost", f"changed: {[k for k, v in before.items() if after.get(k) != v]}")
        if outcome == "accepted":
            tally.accepted += 1
        else:
            tally.coded_error(outcome)
    finally:
        shutil.rmtree(case, ignore_errors=True)


def write_jsonl(text: str) -> Callable[[Path], Path]:
    def make(case: Path) -> Path:
        path = case / "in.jsonl"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        return path

    return make


def write_bio(spec: tuple) -> Callable[[Path], Path]:
    lines, labels, drop_label, trailing = spec

    def make(case: Path) -> Path:
        folder = case / "bio"
        folder.mkdir()
        end = "\n" if trailing else ""

        def put(name: str, rows: list[str]) -> None:  # surrogatepass: lone surrogates become bad bytes
            (folder / name).write_bytes(("\n".join(rows) + end).encode("utf-8", "surrogatepass"))

        put("seq.in", [" ".join(w for w, _ in ln) for ln in lines])
        put("seq.out", [" ".join(t for _, t in ln) for ln in lines])
        if not drop_label:
            put("label", labels)
        return folder

    return make


def write_conll(blocks: list) -> Callable[[Path], Path]:
    def make(case: Path) -> Path:
        path = case / "in.conll"
        text = "\n\n".join("\n".join([*comments, *(f"{w}\t{t}" for w, t in rows)]) for comments, rows in blocks)
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        return path

    return make


def fuzz_files(target: str, seconds: float, work: Path) -> Tally:
    """Run one file target in rounds of fresh hypothesis runs until ``seconds`` pass."""
    tally = Tally()
    strategy, maker, outputs = {
        "jsonl": (jsonl_file, write_jsonl, ["jsonl", "conll", "bio"]),
        "bio": (bio_folder, write_bio, ["jsonl", "conll"]),
        "conll": (conll_file, write_conll, ["jsonl", "bio"]),
    }[target]
    deadline = time.monotonic() + seconds

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def round_(value: Any) -> None:
        if time.monotonic() < deadline:
            check_file_input(tally, work, maker(value), outputs)

    while time.monotonic() < deadline:
        round_()
    return tally


def tiny_model(work: Path) -> Any:
    """A tiny model trained in seconds on the bundled test fixture (no download)."""
    import mrekit
    from mrekit.encoder.backbone import make_tiny_encoder
    from mrekit.encoder.model import MREModel
    from mrekit.formats import bio
    from mrekit.trainer import TrainingArguments

    examples = list(bio.read(ROOT.parent / "tests" / "fixtures" / "bio_mini"))
    encoder = make_tiny_encoder(work / "encoder", [ex.text for ex in examples])
    args = TrainingArguments(epochs=1, batch_size=4, threads=1)
    model = MREModel(mode="mre", encoder=encoder).fit(examples, examples, args=args, output_dir=work / "run")
    return mrekit.load(model.save(work / "model"))


def fuzz_server(seconds: float, work: Path) -> Tally:
    """POST generated bodies to /v1/extract; 5xx or a non-documented error body is a crash."""
    from fastapi.testclient import TestClient

    from mrekit.server.app import create_app

    tally = Tally()
    deadline = time.monotonic() + seconds
    app = create_app(tiny_model(work), max_text_chars=200, max_batch=8)
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as c:

        @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(body)
        def round_(data: bytes) -> None:
            if time.monotonic() >= deadline:
                return
            tally.cases += 1
            try:
                response = c.post("/v1/extract", content=data, headers={"content-type": "application/json"})
            except Exception:  # noqa: BLE001
                tally.crash(data, traceback.format_exc())
                return
            if response.status_code >= 500:
                tally.crash(data, f"HTTP {response.status_code}: {response.text[:500]}")
            elif response.status_code >= 400:
                code = _error_code(response)
                if code is None:
                    tally.crash(data, f"HTTP {response.status_code} without the error shape: {response.text[:500]}")
                else:
                    tally.coded_error(f"HTTP {response.status_code} {code}")
            else:
                tally.accepted += 1

        while time.monotonic() < deadline:
            round_()
        if c.get("/healthz").status_code != 200:
            tally.crash("healthz after fuzzing", "the server no longer answers /healthz")
    return tally


def _error_code(response: Any) -> str | None:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return error.get("code") or error.get("type") if isinstance(error, dict) else None


COUNTS = ("cases", "accepted", "coded_errors", "crashes", "data_lost", "seconds")


def results_file(results: dict[str, Any], totals: dict[str, int], meta: dict[str, Any]) -> dict[str, Any]:
    """``{target: {"hypothesis": {count: {mean, sd, n}}}, "_meta": {...}}``: codes, crash inputs, totals in _meta."""
    out: dict[str, Any] = {
        target: {"hypothesis": {k: summarize([r[k]]) for k in COUNTS}} for target, r in results.items()
    }
    details = {t: {"codes": r["codes"], "crash_examples": r["crash_examples"]} for t, r in results.items()}
    out["_meta"] = {**meta, "total": totals, "details": details}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="time per target")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "reliability.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for target in args.targets:
            started = time.monotonic()
            tally = fuzz_server(args.seconds, work) if target == "server" else fuzz_files(target, args.seconds, work)
            results[target] = {**tally.to_dict(), "seconds": round(time.monotonic() - started, 1)}
            print(f"{target}: {json.dumps({k: v for k, v in results[target].items() if k != 'crash_examples'})}")
    totals = {
        k: sum(r[k] for r in results.values()) for k in ("cases", "accepted", "coded_errors", "crashes", "data_lost")
    }
    command = "bench/fuzz.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = results_file(results, totals, run_meta(command.strip(), seconds_per_target=args.seconds))
    with atomic_file(args.output, overwrite=True) as fh:
        fh.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"total: {totals} -> {args.output}")
    return 1 if totals["crashes"] or totals["data_lost"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
