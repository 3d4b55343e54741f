"""The epoch loop with a fake engine: selection ties, checkpoint clean-up, progress lines, the auto budget."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from mrekit import MrekitError
from mrekit.schema import Example
from mrekit.trainer import Trainer, TrainingArguments
from mrekit.trainer.budget import resolve_budget
from mrekit.trainer.progress import StepReporter

DATA = [Example(f"text {i}", labels=["a"]) for i in range(8)]


class FakeHooks:
    """A linear module and scripted dev metrics: one dict per epoch."""

    seed_at_start = False
    min_warmup_steps = 0

    def notes(self):
        return ["fake note"]

    def __init__(self, script=None, metric="frame_accuracy", items=8):
        self.module = torch.nn.Linear(2, 1)
        self.script = list(script or [])
        self.metric = metric
        self.items = items
        self.saved: list[int] = []
        self.calls = 0

    def check(self, train, dev):
        pass

    def prepare(self, train, dev):
        return {}

    def lengths(self):
        return [3] * self.items

    def batch(self, ids, device):
        return {"x": torch.ones(len(ids), 2, device=device)}

    def loss(self, batch):
        return (self.module(batch["x"]) ** 2).mean()

    def param_groups(self):
        return [{"params": list(self.module.parameters()), "lr": 0.01, "weight_decay": 0.0}]

    def evaluate(self, dev):
        self.calls += 1
        return dict(self.script[self.calls - 1])

    def selection_metric(self, dev):
        return self.metric if dev else None

    def fingerprint(self, train, dev):
        return {"arguments": {}, "train": "x"}

    def save(self, folder, record):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "epoch.txt").write_text(str(record["epoch"]))
        self.saved.append(record["epoch"])


ScriptedHooks = FakeHooks


def _log(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _train(hooks, out, *, dev=DATA, **settings):
    args = TrainingArguments(**{"epochs": len(hooks.script) or 2, "batch_size": 4, "seed": 0, **settings})
    return Trainer(hooks, args).train(DATA, dev, out)


# --- ties in the selection metric ----------------------------------------------------------------------------


def test_a_tie_in_frame_accuracy_is_broken_by_text_accuracy_then_span_f1(tmp_path):
    script = [
        {"frame_accuracy": 0.0, "text_accuracy": 0.33, "span_f1": 0.10},
        {"frame_accuracy": 0.0, "text_accuracy": 0.50, "span_f1": 0.20},
        {"frame_accuracy": 0.0, "text_accuracy": 0.60, "span_f1": 0.10},
        {"frame_accuracy": 0.0, "text_accuracy": 0.60, "span_f1": 0.30},
        {"frame_accuracy": 0.0, "text_accuracy": 0.60, "span_f1": 0.25},
    ]
    hooks = ScriptedHooks(script)
    best = _train(hooks, tmp_path)
    assert best["epoch"] == 4
    assert hooks.saved == [1, 2, 3, 4]
    assert (tmp_path / "model-best" / "epoch.txt").read_text() == "4"
    assert [r["best_epoch"] for r in _log(tmp_path)] == [1, 2, 3, 4, 4]


def test_a_higher_selection_metric_still_wins_over_the_tie_breakers(tmp_path):
    script = [
        {"frame_accuracy": 0.1, "text_accuracy": 0.2, "span_f1": 0.2},
        {"frame_accuracy": 0.0, "text_accuracy": 0.9, "span_f1": 0.9},
    ]
    assert _train(ScriptedHooks(script), tmp_path)["epoch"] == 1


def test_a_lower_dev_loss_breaks_a_tie_of_every_metric(tmp_path):
    script = [{"span_f1": 0.5, "loss": 0.4}, {"span_f1": 0.5, "loss": 0.3}, {"span_f1": 0.5, "loss": 0.35}]
    assert _train(ScriptedHooks(script, metric="span_f1"), tmp_path)["epoch"] == 2


def test_a_full_tie_keeps_the_later_epoch_but_counts_toward_patience(tmp_path):
    script = [{"text_accuracy": 0.5}] * 5
    hooks = ScriptedHooks(script, metric="text_accuracy")
    best = _train(hooks, tmp_path, patience=2)
    log = _log(tmp_path)
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert best["epoch"] == 3
    assert log[-1]["finished"] == "early stop: 2 epochs without dev improvement"


# --- the checkpoint of a finished run --------------------------------------------------------------------------


def test_the_checkpoint_is_removed_once_the_run_finished(tmp_path):
    _train(FakeHooks(), tmp_path, dev=None)
    assert not (tmp_path / "checkpoint").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "model-best"]
    assert _log(tmp_path)[-1]["finished"] == "all 2 epochs"


def test_keep_checkpoint_keeps_it(tmp_path):
    _train(FakeHooks(), tmp_path, dev=None, keep_checkpoint=True)
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["state"]["epoch"] == 2


def test_an_interrupted_run_keeps_its_checkpoint(tmp_path):
    class Stop(Exception):
        pass

    def stop(epoch, record):
        raise Stop

    args = TrainingArguments(epochs=3, batch_size=4)
    with pytest.raises(Stop):
        Trainer(FakeHooks(), args).train(DATA, None, tmp_path, on_epoch_end=stop)
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["state"]["epoch"] == 1
    assert "finished" not in _log(tmp_path)[-1]


def test_resume_of_a_finished_run_says_it_finished(tmp_path):
    _train(FakeHooks(), tmp_path, dev=None)
    with pytest.raises(MrekitError) as err:
        Trainer(FakeHooks(), TrainingArguments(epochs=2, batch_size=4, seed=0)).train(DATA, None, tmp_path, resume=True)
    assert err.value.code == "E184"
    assert err.value.message == (
        "no checkpoint to resume from: the run finished (all 2 epochs, best epoch 2) and its checkpoint was removed"
    )
    assert "--overwrite" in err.value.hint and "--keep-checkpoint" in err.value.hint


def test_resume_with_no_run_at_all_says_start_without_resume(tmp_path):
    with pytest.raises(MrekitError) as err:
        Trainer(FakeHooks(), TrainingArguments(epochs=2, batch_size=4)).train(DATA, None, tmp_path, resume=True)
    assert (err.value.code, err.value.message, err.value.hint) == (
        "E184",
        "no checkpoint to resume from",
        "start without --resume",
    )


# --- progress ----------------------------------------------------------------------------------------------------


def test_on_step_gets_one_event_per_step_and_plain_lines_go_to_the_progress_logger(tmp_path, caplog):
    events = []
    args = TrainingArguments(epochs=5, batch_size=4, seed=0)
    with caplog.at_level(logging.INFO, logger="mrekit.trainer.progress"):
        Trainer(FakeHooks(), args).train(DATA, None, tmp_path, on_step=events.append)
    assert [(e["epoch"], e["step"], e["total"]) for e in events] == [(1 + i // 2, i + 1, 10) for i in range(10)]
    assert set(events[0]) == {
        "epoch",
        "epochs",
        "step",
        "total",
        "loss",
        "steps_per_second",
        "eta_seconds",
        "elapsed_seconds",
    }
    lines = [r.getMessage() for r in caplog.records if r.name == "mrekit.trainer.progress"]
    assert lines[0] == (
        "training budget: 8 examples, batch size 4, 2 steps/epoch, 5 epochs, 10 steps (epochs 5 as set)"
    )
    steps = [line for line in lines if " step " in line]
    # 10 steps: a line at each tenth of the run.
    assert [line.split(":")[0] for line in steps] == [
        f"epoch {1 + i // 2}/5 step {i + 1}/10 ({i + 1}0%)" for i in range(10)
    ]
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ") and " step " not in line] == [
        f"epoch {i}" for i in range(1, 6)
    ]
    assert lines[-1].endswith("★ best")  # without dev the last epoch is the model


def test_plain_lines_come_every_n_seconds_between_the_tenths():
    now = [0.0]
    reporter = StepReporter(1000, 1, every_seconds=30, clock=lambda: now[0])
    shown = []
    for step in range(1, 100):  # below the first tenth (step 100)
        now[0] = step * 4.0  # 4 s a step
        before = reporter.lines
        reporter.step(1, step, 0.5)
        if reporter.lines > before:
            shown.append(step)
    assert shown == [8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96]


def test_progress_events_estimate_the_time_left():
    now = [10.0]
    reporter = StepReporter(100, 2, start_step=40, clock=lambda: now[0])
    now[0] = 30.0  # 20 steps in 20 s after resuming at step 40
    event = reporter.step(2, 60, 0.25)
    assert (event["steps_per_second"], event["eta_seconds"], event["elapsed_seconds"]) == (1.0, 40.0, 20.0)


# --- the auto budget ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "examples, batch, epochs, steps, patience",
    [
        (135, 32, 50, 250, 10),
        (100, 32, 50, 200, 10),
        (1000, 32, 19, 608, 4),
        (13084, 32, 5, 2045, 3),
        (1, 32, 50, 50, 10),
    ],
)
def test_auto_budget_gives_enough_steps_within_the_epoch_bounds(examples, batch, epochs, steps, patience):
    budget = resolve_budget(epochs="auto", patience="auto", batch_size=batch, max_steps=None, examples=examples)
    assert (budget.epochs, budget.total_steps, budget.patience) == (epochs, steps, patience)


def test_explicit_epochs_keep_their_meaning_and_never_stop_early():
    budget = resolve_budget(epochs=5, patience="auto", batch_size=32, max_steps=None, examples=135)
    assert (budget.epochs, budget.total_steps, budget.patience) == (5, 25, None)
    assert resolve_budget(epochs="auto", patience=None, batch_size=32, max_steps=100, examples=135).total_steps == 100


def test_auto_is_the_default_and_the_loop_runs_the_budget_it_prints(tmp_path, caplog):
    args = TrainingArguments(batch_size=4, seed=0)
    assert (args.epochs, args.patience) == ("auto", "auto")
    with caplog.at_level(logging.INFO, logger="mrekit.trainer.progress"):
        Trainer(FakeHooks(items=40), args).train(DATA, None, tmp_path)
    first = next(r.getMessage() for r in caplog.records if r.name == "mrekit.trainer.progress")
    assert first == (
        "training budget: 40 examples, batch size 4, 10 steps/epoch, 50 epochs, 500 steps "
        "(epochs auto: 600 steps wanted, capped at 50 epochs; early stop after 10 epochs without dev improvement)"
    )
    log = _log(tmp_path)
    assert (len(log), log[-1]["steps"], log[-1]["finished"]) == (50, 500, "all 50 epochs")


def test_auto_budget_stops_early_on_dev(tmp_path):
    script = [{"text_accuracy": 0.1 * (i + 1)} for i in range(3)] + [{"text_accuracy": 0.2}] * 47
    hooks = ScriptedHooks(script, metric="text_accuracy", items=40)
    best = Trainer(hooks, TrainingArguments(batch_size=4, seed=0)).train(DATA, DATA, tmp_path)
    log = _log(tmp_path)
    assert (best["epoch"], len(log)) == (3, 13)
    assert log[-1]["finished"] == "early stop: 10 epochs without dev improvement"


def test_epochs_auto_is_accepted_and_other_words_are_refused():
    assert TrainingArguments.from_dict({"epochs": "auto"}).epochs == "auto"
    with pytest.raises(MrekitError) as err:
        TrainingArguments.from_dict({"epochs": "many"})
    assert (err.value.code, err.value.field) == ("E183", "epochs")
    assert err.value.message == "epochs must be an integer of at least 1 or auto, not 'many'"
