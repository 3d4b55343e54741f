"""Training runs survive crashes and refuse to mix runs: issue 12 items 10 and 12 (trainer part).

A crash is injected at each write of an epoch (model-best, metrics.jsonl, checkpoint),
before and after it; resuming must give exactly one metrics line per epoch and the
weights of an uninterrupted run. Resuming with other data or settings than the
checkpoint's is refused (E189) naming what differs, and touches nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import mrekit.encoder.training as encoder_training
import mrekit.trainer.loop as training
from mrekit import MrekitError
from mrekit.encoder.model import MREModel
from mrekit.schema import Example, Span
from mrekit.trainer import TrainingArguments

FAST = dict(batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)
ARGS = TrainingArguments(epochs=3, keep_checkpoint=True, **FAST)  # the tests compare checkpoints


class Crash(Exception):
    """Stands for a kill at one point of an epoch."""


def _fit(encoder, data, dev, out, *, args=ARGS, resume=False, overwrite=False, mode="shared"):
    return MREModel(mode=mode, encoder=encoder).fit(
        data, dev, args=args, output_dir=out, resume=resume, overwrite=overwrite
    )


def _epochs(out: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def _always_improves(original):
    """Every epoch counts as the best, so model-best is written every epoch (and can be crashed in)."""

    def score(self, record, dev, metric, state, *, last):
        original(self, record, dev, metric, state, last=last)
        state.update(best=float(record["epoch"]), best_epoch=record["epoch"], stale=0)
        return True

    return score


@pytest.fixture(scope="module")
def uninterrupted(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training.Trainer, "_score", _always_improves(training.Trainer._score))
        _fit(tiny_encoder, snips_mini, snips_mini[:4], out)
    return out


def _crashing(original, when, is_target):
    def wrapper(*args, **kwargs):
        if is_target(*args, **kwargs) and when == "before":
            raise Crash
        result = original(*args, **kwargs)
        if is_target(*args, **kwargs) and when == "after":
            raise Crash
        return result

    return wrapper


#: The writes of an epoch, in their order, and how to tell the one of epoch 2.
TARGETS = {
    "model-best": (
        encoder_training,
        "save_model",
        lambda model, tok, folder, **kw: kw["extra"]["training"]["epoch"] == 2,
    ),
    "metrics": (training, "write_metrics", lambda out, records: len(records) == 2),
    "checkpoint": (training.Trainer, "_save_checkpoint", lambda self, folder, opt, sched, state: state["epoch"] == 2),
}


#: What a crash in epoch 2 leaves: the metrics lines and the checkpoint's epoch (the log may be one ahead).
LEFT_BEHIND = {
    ("model-best", "before"): ([1], 1),
    ("model-best", "after"): ([1], 1),
    ("metrics", "before"): ([1], 1),
    ("metrics", "after"): ([1, 2], 1),
    ("checkpoint", "before"): ([1, 2], 1),
    ("checkpoint", "after"): ([1, 2], 2),
}


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_crash_at_each_write_resumes_to_the_uninterrupted_run(
    target, when, uninterrupted, snips_mini, tiny_encoder, tmp_path, monkeypatch
):
    monkeypatch.setattr(training.Trainer, "_score", _always_improves(training.Trainer._score))
    owner, name, is_target = TARGETS[target]
    original = getattr(owner, name)
    monkeypatch.setattr(owner, name, _crashing(original, when, is_target))
    with pytest.raises(Crash):
        _fit(tiny_encoder, snips_mini, snips_mini[:4], tmp_path)
    checkpoint = json.loads((tmp_path / "checkpoint" / "state.json").read_text())["state"]["epoch"]
    assert (_epochs(tmp_path), checkpoint) == LEFT_BEHIND[target, when]
    monkeypatch.setattr(owner, name, original)
    _fit(tiny_encoder, snips_mini, snips_mini[:4], tmp_path, resume=True)

    assert _epochs(tmp_path) == [1, 2, 3]  # exactly one line per epoch
    for part in ("checkpoint/state.safetensors", "model-best/model.safetensors"):
        full, cut = load_file(str(uninterrupted / part)), load_file(str(tmp_path / part))
        assert full.keys() == cut.keys()
        for key in full:
            assert torch.equal(full[key], cut[key]), (part, key)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_kill_while_writing_the_checkpoint_leaves_no_duplicate_epoch(fixtures, tiny_encoder, tmp_path):
    # A real SIGKILL after metrics.jsonl got epoch 2 and half of the epoch-2 checkpoint was written.
    script = textwrap.dedent(
        f"""
        import os, signal
        import safetensors.torch
        from mrekit.formats import bio
        from mrekit.encoder.model import MREModel
        from mrekit.trainer import TrainingArguments
        import mrekit.trainer.loop as training

        original = training.Trainer._save_checkpoint
        def half_then_die(self, folder, optimizer, scheduler, state):
            if state["epoch"] == 2:
                def save_file(tensors, path):
                    open(path, "wb").write(b"half")
                    os.kill(os.getpid(), signal.SIGKILL)
                safetensors.torch.save_file = save_file
            original(self, folder, optimizer, scheduler, state)
        training.Trainer._save_checkpoint = half_then_die
        data = list(bio.read({str(fixtures / "bio_mini")!r}))
        MREModel(encoder={str(tiny_encoder)!r}).fit(
            data, data, args=TrainingArguments(epochs=3, batch_size=4, seed=1), output_dir={str(tmp_path)!r})
        """
    )
    killed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert _epochs(tmp_path) == [1, 2]  # the log is one epoch ahead of the checkpoint
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["state"]["epoch"] == 1
    from mrekit.formats import bio

    data = list(bio.read(fixtures / "bio_mini"))
    MREModel(encoder=tiny_encoder).fit(
        data, data, args=TrainingArguments(epochs=3, batch_size=4, seed=1), output_dir=tmp_path, resume=True
    )
    assert _epochs(tmp_path) == [1, 2, 3]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".checkpoint.")]  # the half folder is gone


# --- resume must be the same run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(snips_mini, tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    _fit(tiny_encoder, snips_mini, snips_mini[:4], out, args=TrainingArguments(epochs=2, keep_checkpoint=True, **FAST))
    return out


def _renamed(examples, old, new):
    out = []
    for ex in examples:
        spans = [Span(s.start, s.end, new if s.label == old else s.label) for s in ex.spans or []]
        out.append(Example(ex.text, id=ex.id, labels=list(ex.labels), spans=spans))
    return out


CHANGES = {
    "seed": (dict(args={"seed": 4}), "seed 3 -> 4"),
    "epochs": (dict(args={"epochs": 3}), "epochs 2 -> 3"),
    "learning rate": (dict(args={"learning_rate": 1e-3}), "learning_rate 0.003 -> 0.001"),
    "train data": (dict(train=lambda d: d[:-1]), "the training data"),
    "dev data": (dict(dev=lambda d: d[4:8]), "the dev data"),
    "label set": (dict(train=lambda d: _renamed(d, "artist", "singer")), "the span labels (+singer, -artist)"),
    "mode": (dict(mode="mre"), "mode 'shared' -> 'mre'"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_resume_of_another_run_is_refused_naming_what_differs(change, finished, snips_mini, tiny_encoder, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    settings, named = CHANGES[change]
    args = TrainingArguments(**{**FAST, "epochs": 2, **settings.get("args", {})})
    train = settings.get("train", lambda d: d)(snips_mini)
    dev = settings.get("dev", lambda d: d[:4])(snips_mini)
    with pytest.raises(MrekitError) as err:
        _fit(tiny_encoder, train, dev, out, args=args, resume=True, mode=settings.get("mode", "shared"))
    assert err.value.code == "E189"
    assert named in err.value.message
    assert "differs from the interrupted one" in err.value.message
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_resume_of_the_same_finished_run_trains_no_more(finished, snips_mini, tiny_encoder, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    log = (out / "metrics.jsonl").read_bytes()
    model = _fit(tiny_encoder, snips_mini, snips_mini[:4], out, args=TrainingArguments(epochs=2, **FAST), resume=True)
    assert (out / "metrics.jsonl").read_bytes() == log
    assert model.predict(["play muse"])[0].labels


def test_checkpoint_without_fingerprint_is_refused(finished, snips_mini, tiny_encoder, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    state_json = out / "checkpoint" / "state.json"
    state = json.loads(state_json.read_text())
    del state["fingerprint"]
    state_json.write_text(json.dumps(state))
    with pytest.raises(MrekitError, match=r"\[E189\] .*no fingerprint"):
        _fit(tiny_encoder, snips_mini, snips_mini[:4], out, args=TrainingArguments(epochs=2, **FAST), resume=True)


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_new_run_in_the_folder_of_an_earlier_one_is_refused_without_overwrite(finished, snips_mini, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = _contents(out)
    # No encoder is named that could load: the refusal comes before anything is read or loaded.
    with pytest.raises(
        MrekitError, match=r"\[E170\] .*earlier run \(model-best, checkpoint, metrics.jsonl\)"
    ) as caught:
        MREModel(mode="shared", encoder=tmp_path / "no-encoder").fit(snips_mini, None, output_dir=out)
    assert "overwrite=True" in str(caught.value)
    assert _contents(out) == before


def test_a_new_run_discards_the_old_checkpoint_so_resume_cannot_mix_runs(finished, snips_mini, tiny_encoder, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    (out / "notes.txt").write_text("mine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training.Trainer, "_train_epoch", lambda *a, **k: (_ for _ in ()).throw(Crash()))
        with pytest.raises(Crash):
            _fit(
                tiny_encoder,
                snips_mini,
                snips_mini[:4],
                out,
                args=TrainingArguments(epochs=2, **{**FAST, "seed": 9}),
                overwrite=True,
            )
    # Interrupted before its first epoch: nothing of the old run is left to resume into.
    with pytest.raises(MrekitError, match=r"\[E184\]"):
        _fit(tiny_encoder, snips_mini, snips_mini[:4], out, args=TrainingArguments(epochs=2, **FAST), resume=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "model-best" / "mrekit.json").exists()  # the old model stays until a new one replaces it
