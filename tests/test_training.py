from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from mrekit import MrekitError
from mrekit.metrics import evaluate
from mrekit.pipeline import MREModel
from mrekit.training import TrainingArguments

FAST = dict(batch_size=4, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)


def test_learns_the_training_data(snips_mini, tiny_encoder, tmp_path):
    model = MREModel(mode="mre", encoder=tiny_encoder).fit(
        snips_mini, snips_mini, args=TrainingArguments(epochs=40, **FAST), output_dir=tmp_path
    )
    scores = evaluate(snips_mini, model.predict([ex.text for ex in snips_mini]), bootstrap=0)
    assert scores["text_accuracy"] == 1.0
    assert scores["span_f1"] > 0.9
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, 41))
    assert log[-1]["selection_metric"] == "frame_accuracy"
    assert log[-1]["train_loss"] < log[0]["train_loss"] / 5


def test_resume_after_interruption_gives_the_same_weights(snips_mini, tiny_encoder, tmp_path):
    args = TrainingArguments(epochs=3, **FAST)
    MREModel(mode="shared", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=args, output_dir=tmp_path / "full")

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, record):
        if epoch == 1:
            raise Interrupt

    from mrekit.features import LabelSpace
    from mrekit.models.encoder import load_encoder
    from mrekit.models.joint import JointConfig, JointModel
    from mrekit.pipeline import _consistency
    from mrekit.training import Trainer, seed_everything

    def new_trainer():
        seed_everything(args.seed)
        space = LabelSpace.from_examples(snips_mini)
        config = JointConfig(space.text_labels, space.span_labels, mode="shared", consistency=_consistency(snips_mini))
        encoder, tokenizer = load_encoder(tiny_encoder)
        return Trainer(JointModel(config, encoder), tokenizer, args)

    with pytest.raises(Interrupt):
        new_trainer().train(snips_mini, snips_mini, tmp_path / "cut", on_epoch_end=stop_after_first)
    new_trainer().train(snips_mini, snips_mini, tmp_path / "cut", resume=True)
    full = load_file(str(tmp_path / "full" / "checkpoint" / "state.safetensors"))
    cut = load_file(str(tmp_path / "cut" / "checkpoint" / "state.safetensors"))
    assert full.keys() == cut.keys()
    for key in full:
        assert torch.equal(full[key], cut[key]), key
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


def test_killed_process_resumes(fixtures, tiny_encoder, tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal
        from mrekit.formats import bio
        from mrekit.pipeline import MREModel
        from mrekit.training import TrainingArguments
        import mrekit.training as training

        original = training.Trainer._save_checkpoint
        def save_then_die(self, folder, optimizer, scheduler, state):
            original(self, folder, optimizer, scheduler, state)
            if state["epoch"] == 2:
                os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, like a power cut
        training.Trainer._save_checkpoint = save_then_die
        data = list(bio.read({str(fixtures / "bio_mini")!r}))
        MREModel(encoder={str(tiny_encoder)!r}).fit(
            data, data, args=TrainingArguments(epochs=4, batch_size=4, seed=1), output_dir={str(tmp_path)!r})
        """
    )
    killed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    from mrekit.formats import bio

    data = list(bio.read(fixtures / "bio_mini"))
    MREModel(encoder=tiny_encoder).fit(
        data, data, args=TrainingArguments(epochs=4, batch_size=4, seed=1), output_dir=tmp_path, resume=True
    )
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]
    assert MREModel.load(tmp_path).predict(["play muse"])[0].labels


def test_resume_without_checkpoint(snips_mini, tiny_encoder, tmp_path):
    with pytest.raises(MrekitError, match=r"\[E184\]"):
        MREModel(encoder=tiny_encoder).fit(
            snips_mini, None, args=TrainingArguments(epochs=1), output_dir=tmp_path, resume=True
        )


def test_unknown_training_setting():
    with pytest.raises(MrekitError, match=r"\[E183\] unknown training setting\(s\): lr"):
        TrainingArguments.from_dict({"lr": 1e-3})


def test_without_dev_the_last_epoch_is_kept(snips_mini, tiny_encoder, tmp_path):
    MREModel(encoder=tiny_encoder).fit(
        snips_mini, None, args=TrainingArguments(epochs=2, batch_size=4), output_dir=tmp_path
    )
    manifest = json.loads((tmp_path / "model-best" / "mrekit.json").read_text())
    assert manifest["training"]["epoch"] == 2 and manifest["training"]["dev"] is None
