"""Every code block of README.md runs as written (issue 14).

Blocks run in order, in one sandbox folder that holds what a reader would have after
``make quickstart``: ``mrekit-quickstart/model-best`` and ``runs/snips`` (a tiny model here,
trained in seconds), ``texts.txt``, ``data.jsonl`` and ``predictions.jsonl``. ``python``
blocks run in one namespace; each line of a ``bash`` block runs with the ``mrekit`` of this
environment on the PATH; ``json`` blocks must parse as examples. A block may be skipped
only with a reason, written in the README itself on the line before it:
``<!-- readme-test: skip (reason) -->`` (e.g. it installs packages, needs ``../shared``
data, or trains on a full data set for minutes).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mrekit.datasets import load_builtin
from mrekit.encoder.model import MREModel
from mrekit.formats import jsonl
from mrekit.schema import Example
from mrekit.trainer import TrainingArguments

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->")


def blocks() -> list[tuple[int, str, str, str | None]]:
    """``(line, language, code, skip reason)`` of every fenced block."""
    lines = README.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening:
            start = i
            i += 1
            body = []
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            reason = SKIP.search(previous)
            found.append((start + 1, opening.group(1) or "text", "\n".join(body), reason.group(1) if reason else None))
        i += 1
    return found


BLOCKS = blocks()


def test_every_skipped_block_says_why():
    assert all(reason.strip() for *_, reason in BLOCKS if reason is not None)


def test_readme_has_runnable_python_and_shell_blocks():
    run = [(line, lang) for line, lang, _, reason in BLOCKS if reason is None]
    assert {"python", "bash", "json"} <= {lang for _, lang in run}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, snips_mini, tiny_encoder):
    """What a reader has after ``make quickstart``, with a tiny model instead of the real one."""
    root = tmp_path_factory.mktemp("readme")
    args = TrainingArguments(
        epochs=3, batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3, threads=1
    )
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(
        snips_mini, snips_mini, args=args, output_dir=root / "mrekit-quickstart"
    )
    model.save(root / "runs" / "snips" / "model-best")
    (root / "texts.txt").write_text("play the new album by muse\nbook a table for two\n", encoding="utf-8")
    test = load_builtin("snips", "test")
    jsonl.write(test[:20], root / "data.jsonl")
    predictions = model.predict([ex.text for ex in test])
    for gold, pred in zip(test, predictions, strict=True):
        pred.id = gold.id
    jsonl.write(predictions, root / "predictions.jsonl")
    return root


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONWARNINGS": "ignore"}


@pytest.mark.parametrize(
    ("line", "lang", "code"),
    [(line, lang, code) for line, lang, code, reason in BLOCKS if reason is None],
    ids=[f"README.md:{line}:{lang}" for line, lang, _, reason in BLOCKS if reason is None],
)
def test_readme_block_runs(line, lang, code, sandbox, monkeypatch):
    monkeypatch.chdir(sandbox)
    if lang == "python":
        namespace = test_readme_block_runs.__dict__.setdefault("namespace", {"__name__": "__readme__"})
        exec(compile(code, f"README.md:{line}", "exec"), namespace)  # noqa: S102 - running the README is the test
    elif lang == "bash":
        for command in _commands(code):
            done = subprocess.run(
                ["bash", "-c", command], cwd=sandbox, env=_env(), capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, f"README.md:{line}: {command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    elif lang == "json":
        Example.from_dict(json.loads(code))
    else:
        pytest.skip(f"a {lang or 'text'} block is shown, not run")


def _commands(code: str) -> list[str]:
    """The block's commands: comments stripped, continuation lines joined."""
    joined = code.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]
