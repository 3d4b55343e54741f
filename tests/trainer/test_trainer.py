from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from mrekit import MrekitError
from mrekit.config import read_config
from mrekit.encoder.model import MREModel
from mrekit.metrics import evaluate
from mrekit.schema import Example
from mrekit.trainer import TrainingArguments

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
    args = TrainingArguments(epochs=3, keep_checkpoint=True, **FAST)
    MREModel(mode="shared", encoder=tiny_encoder).fit(snips_mini, snips_mini, args=args, output_dir=tmp_path / "full")

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, record):
        if epoch == 1:
            raise Interrupt

    from mrekit.encoder.backbone import load_encoder
    from mrekit.encoder.features import LabelSpace, span_consistency
    from mrekit.encoder.joint import JointConfig, JointModel
    from mrekit.encoder.training import EncoderHooks
    from mrekit.runtime import seed_everything
    from mrekit.trainer import Trainer

    def new_trainer():
        seed_everything(args.seed)
        space = LabelSpace.from_examples(snips_mini)
        consistency = span_consistency(snips_mini)
        config = JointConfig(space.text_labels, space.span_labels, mode="shared", consistency=consistency)
        encoder, tokenizer = load_encoder(tiny_encoder)
        return Trainer(EncoderHooks(JointModel(config, encoder), tokenizer, args), args)

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
        from mrekit.encoder.model import MREModel
        from mrekit.trainer import TrainingArguments
        import mrekit.trainer.loop as training

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


# --- settings are checked when they are built (issue 12 item 13) ----------------------------------------------

_NOT_NUMBERS = st.one_of(
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.none()),
)
_NOT_FINITE = st.sampled_from([float("nan"), float("inf"), float("-inf")])


def _ints(low, optional=False):
    bad = st.one_of(_NOT_NUMBERS, st.floats(), st.integers(max_value=low - 1))
    return bad if optional else st.one_of(bad, st.none())


def _floats(low=None, high=None, above=False):
    parts = [_NOT_NUMBERS, _NOT_FINITE, st.none()]
    if low is not None:
        parts += [
            st.floats(max_value=low).filter(lambda v: v <= low if above else v < low),  # not -0.0 for >= 0
            st.integers(max_value=int(low) - (0 if above else 1)),
        ]
    if high is not None:
        parts += [
            st.floats(min_value=high, exclude_min=True, allow_infinity=False),
            st.integers(min_value=int(high) + 1),
        ]
    return st.one_of(*parts)


#: What selection_metric may be: auto or a metric of mrekit.metrics.evaluate that the encoder model can score.
METRICS = {"auto", "text_accuracy", "text_micro_f1", "text_macro_f1", "span_precision", "span_recall", "span_f1"}
METRICS |= {"pair_precision", "pair_recall", "pair_f1", "frame_accuracy"}
_OTHER_TEXT = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans())
BAD_TRAINING = {
    "epochs": _ints(1).filter(lambda v: v != "auto"),
    "batch_size": _ints(1),
    "eval_batch_size": _ints(1),
    "seed": _ints(0),
    "threads": _ints(1, optional=True),
    "patience": _ints(1, optional=True).filter(lambda v: v != "auto"),
    "learning_rate": _floats(0, above=True),
    "head_learning_rate": _floats(0, above=True),
    "grad_clip": _floats(0, above=True),
    "weight_decay": _floats(0),
    "warmup_ratio": _floats(0, 1),
    "device": _OTHER_TEXT.filter(lambda v: not (isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v))),
    "selection_metric": _OTHER_TEXT.filter(lambda v: v not in METRICS),
}


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_bad_training_settings_are_refused_naming_the_field(data):
    name = data.draw(st.sampled_from(sorted(BAD_TRAINING)), label="field")
    value = data.draw(BAD_TRAINING[name], label="value")
    with pytest.raises(MrekitError) as err:
        TrainingArguments.from_dict({name: value})
    assert err.value.code == "E183" and err.value.field == name


@settings(max_examples=100, deadline=None)
@given(
    epochs=st.integers(1, 10**6),
    learning_rate=st.one_of(st.floats(1e-12, 10), st.integers(1, 3)),
    warmup_ratio=st.floats(0, 1),
    threads=st.one_of(st.none(), st.integers(1, 64)),
)
def test_good_training_settings_are_kept(epochs, learning_rate, warmup_ratio, threads):
    args = TrainingArguments(epochs=epochs, learning_rate=learning_rate, warmup_ratio=warmup_ratio, threads=threads)
    assert (args.epochs, args.learning_rate, args.warmup_ratio, args.threads) == (
        epochs,
        learning_rate,
        warmup_ratio,
        threads,
    )
    assert isinstance(args.learning_rate, float)


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"learning_rate": "abc"}, "learning_rate must be a number greater than 0, not 'abc'"),
        ({"epochs": "2"}, "epochs must be an integer of at least 1 or auto, not '2'"),
        ({"epochs": -3}, "epochs must be an integer of at least 1 or auto, not -3"),
        ({"batch_size": 0}, "batch_size must be an integer of at least 1, not 0"),
        ({"device": "tpu"}, "device must be auto, cpu, cuda, cuda:N or mps, not 'tpu'"),
        ({"selection_metric": "f1"}, "selection_metric must be one of auto, text_accuracy"),
        ({"learning_rate": -5.0}, "learning_rate must be a number greater than 0, not -5.0"),
        ({"threads": 0}, "threads must be an integer of at least 1 (or null), not 0"),
    ],
)
def test_review_examples_of_bad_settings(setting, message):
    with pytest.raises(MrekitError) as err:
        TrainingArguments.from_dict(setting)
    assert err.value.code == "E183" and message in str(err.value)


def test_training_settings_that_are_not_a_table(tmp_path):
    with pytest.raises(MrekitError, match=r"\[E183\] field 'training': training settings must be a table"):
        TrainingArguments.from_dict([1, 2])
    config = tmp_path / "c.json"
    config.write_text("[1, 2]")
    with pytest.raises(MrekitError, match=r"\[E183\] .*c.json: a config holds a table of settings"):
        read_config(config)


@pytest.mark.parametrize(
    "setting, field",
    [
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": "1e-3"}, "learning_rate"),
        ({"lora": "yes"}, "lora"),
        ({"lora_dropout": 1.5}, "lora_dropout"),
        ({"num_beams": 0}, "num_beams"),
        ({"max_steps": -1}, "max_steps"),
        ({"device": "tpu"}, "device"),
        ({"selection_metric": "bleu"}, "selection_metric"),
    ],
)
def test_bad_generative_settings_are_refused_naming_the_field(setting, field):
    from mrekit.generative.training import GenerativeArguments

    with pytest.raises(MrekitError) as err:
        GenerativeArguments.from_dict(setting)
    assert err.value.code == "E202" and err.value.field == field
    assert GenerativeArguments.from_dict({"learning_rate": None, "bf16": None}).learning_rate is None


# --- what the data and the model allow (issue 12 items 9, 11, 17) ------------------------------------------


def _oracle_truncation(tokenizer, examples, max_length):
    """Texts longer than max_length, and gold spans past the cut, counted with the tokenizer itself."""
    truncated = lost = 0
    for ex in examples:
        if len(tokenizer(ex.text)["input_ids"]) > max_length:
            truncated += 1
            cut = tokenizer(ex.text, truncation=True, max_length=max_length, return_offsets_mapping=True)
            covered = max(end for _, end in cut["offset_mapping"])
            lost += sum(span.end > covered for span in ex.spans)
    return truncated, lost


def test_truncation_is_a_coded_warning_with_counts_in_the_log(snips_mini, tiny_encoder, tmp_path, caplog):
    from transformers import AutoTokenizer

    truncated, lost = _oracle_truncation(AutoTokenizer.from_pretrained(tiny_encoder), snips_mini, 16)
    assert truncated and lost  # the fixture really is cut at 16 subwords
    n_spans = sum(len(ex.spans) for ex in snips_mini)
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        MREModel(encoder=tiny_encoder, max_length=16).fit(
            snips_mini, snips_mini, args=TrainingArguments(epochs=1, batch_size=4), output_dir=tmp_path
        )
    for part in ("training", "dev"):
        line = (
            f"[W101] {truncated} of 12 {part} texts are longer than max_length 16 subwords and were truncated; "
            f"{lost} of {n_spans} gold spans past the cut were lost"
        )
        assert line in caplog.text
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    for part in ("train", "dev"):
        counts = record["alignment"][part]
        assert (counts["texts"], counts["truncated"], counts["spans"], counts["spans_lost"]) == (
            12,
            truncated,
            n_spans,
            lost,
        )


def test_labels_outside_the_label_space_are_a_coded_warning(snips_mini, tiny_encoder, caplog):
    from transformers import AutoTokenizer

    from mrekit.encoder.features import LabelSpace, featurize

    space = LabelSpace(["AddToPlaylist"], ["artist", "playlist"])
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        features, _ = featurize(snips_mini[:2], AutoTokenizer.from_pretrained(tiny_encoder), space, 64)
    assert "[W103] labels outside the model's label space were ignored: " in caplog.text
    for label in ("BookRestaurant", "party_size_number", "spatial_relation", "poi", "restaurant_type"):
        assert f" {label} (1)" in caplog.text
    assert features[1].label_ids == [] and set(features[1].tag_ids) <= {0, -100}


def test_dev_labels_never_in_train_are_a_coded_warning(snips_mini, tiny_encoder, tmp_path, caplog):
    train = [ex for ex in snips_mini if ex.labels != ["GetWeather"]]
    unseen_spans = sorted(
        {s.label for ex in snips_mini for s in ex.spans} - {s.label for ex in train for s in ex.spans}
    )
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        MREModel(encoder=tiny_encoder).fit(
            train, snips_mini, args=TrainingArguments(epochs=1, batch_size=4), output_dir=tmp_path
        )
    expected = ", ".join(["text label GetWeather"] + [f"span label {label}" for label in unseen_spans])
    assert f"[W102] dev labels that never occur in train (the model cannot predict them): {expected}" in caplog.text


def test_training_data_without_annotations_is_refused_before_anything_loads(snips_mini, tmp_path):
    missing = tmp_path / "no-encoder"  # loading it would be E100: the data check comes first
    with pytest.raises(MrekitError, match=r"\[E190\] the training data has no text labels and no spans"):
        MREModel(encoder=missing).fit([Example("play muse"), Example("hi")], output_dir=tmp_path / "o")
    text_only = [Example(ex.text, labels=ex.labels) for ex in snips_mini]
    with pytest.raises(MrekitError, match=r"\[E190\] field 'levels': the training data has text labels only"):
        MREModel(mode="isolated", encoder=missing, levels=["word"]).fit(text_only, output_dir=tmp_path / "o")
    with pytest.raises(MrekitError, match=r"\[E101\]"):
        MREModel(encoder=missing).fit([], output_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_selection_metric_must_fit_the_models_levels(snips_mini, tiny_encoder, tmp_path, caplog):
    text_model = dict(mode="isolated", encoder=tiny_encoder, levels=["text"])
    args = TrainingArguments(epochs=1, batch_size=4, selection_metric="span_f1")
    with pytest.raises(MrekitError) as err:
        MREModel(**text_model).fit(snips_mini, snips_mini, args=args, output_dir=tmp_path / "a")
    assert err.value.code == "E183" and err.value.field == "selection_metric"
    assert "needs the word level, which this model does not learn" in err.value.message
    assert not (tmp_path / "a" / "checkpoint").exists()  # refused before training
    labels_only = [Example(ex.text, labels=ex.labels) for ex in snips_mini]
    with pytest.raises(MrekitError, match=r"needs the word level, which the dev data does not annotate"):
        MREModel(encoder=tiny_encoder).fit(snips_mini, labels_only, args=args, output_dir=tmp_path / "b")

    spans_only = [Example(ex.text, spans=ex.spans) for ex in snips_mini]
    with caplog.at_level(logging.WARNING, logger="mrekit"):
        MREModel(**text_model).fit(
            snips_mini, spans_only, args=TrainingArguments(epochs=2, batch_size=4), output_dir=tmp_path / "c"
        )
    assert "[W104] the dev data does not annotate the text level this model learns: the last epoch is kept" in (
        caplog.text
    )
    log = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert [r["selection_metric"] for r in log] == [None, None]
    assert json.loads((tmp_path / "c" / "model-best" / "mrekit.json").read_text())["training"]["epoch"] == 2


def test_max_length_beyond_the_encoders_positions_is_refused(snips_mini, tiny_encoder, tmp_path):
    positions = json.loads((tiny_encoder / "config.json").read_text())["max_position_embeddings"]  # a BERT
    with pytest.raises(MrekitError) as err:
        MREModel(encoder=tiny_encoder, max_length=positions + 1)
    assert err.value.code == "E183" and err.value.field == "max_length"
    assert f"max_length {positions + 1} is more than the encoder reads ({positions} positions)" in err.value.message
    assert MREModel(encoder=tiny_encoder, max_length=positions).max_length == positions
    roberta = tmp_path / "roberta"
    roberta.mkdir()
    (roberta / "config.json").write_text(
        json.dumps({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1})
    )
    with pytest.raises(MrekitError, match=r"\[E183\] .*max_length 513 is more than the encoder reads \(512"):
        MREModel(encoder=roberta, max_length=513)
    MREModel(encoder=roberta, max_length=512)
    for bad in ("128", 0, 2.5, True):
        with pytest.raises(MrekitError, match=r"\[E183\] field 'max_length'"):
            MREModel(max_length=bad)
    with pytest.raises(MrekitError, match=r"\[E183\] field 'levels'"):
        MREModel(levels="text")
    model = MREModel(encoder=tiny_encoder)
    model.max_length = positions + 1  # changed after construction: fit checks again, before training
    with pytest.raises(MrekitError, match=rf"\[E183\] .*max_length {positions + 1} is more"):
        model.fit(snips_mini, output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_fit_reports_each_step_to_its_callback(snips_mini, tiny_encoder, tmp_path, caplog):
    events = []
    args = TrainingArguments(epochs=2, **FAST)
    with caplog.at_level(logging.INFO, logger="mrekit.trainer.progress"):
        MREModel(encoder=tiny_encoder).fit(snips_mini, None, args=args, output_dir=tmp_path, callback=events.append)
    total = 2 * -(-len(snips_mini) // 4)
    assert [e["step"] for e in events] == list(range(1, total + 1))
    assert {e["total"] for e in events} == {total} and events[-1]["epoch"] == 2 and events[-1]["eta_seconds"] == 0.0
    lines = [r.getMessage() for r in caplog.records if r.name == "mrekit.trainer.progress"]
    assert lines[0].startswith(f"training budget: {len(snips_mini)} examples, batch size 4")
    assert not (tmp_path / "checkpoint").exists()


def test_structure_metrics_can_select_epochs_when_dev_has_the_structures():
    from mrekit.schema import Event, Relation, Span
    from mrekit.trainer.checks import choose_metric

    spans = [Span(0, 2, "Drug"), Span(3, 5, "Effect")]
    events = [Example("d1 e1", labels=["ADE"], spans=spans, events=[Event(0, "Adverse_event", (("Effect", 1),))])]
    relations = [Example("d1 e1", spans=spans, relations=[Relation(0, 1, "causes")])]
    assert choose_metric("event_argument_f1", {"text", "word"}, events) == "event_argument_f1"
    assert choose_metric("relation_f1", {"word"}, relations) == "relation_f1"
    with pytest.raises(MrekitError, match="needs dev data with events; this dev data has none") as err:
        choose_metric("event_argument_f1", {"word"}, relations)
    assert err.value.code == "E183" and err.value.field == "selection_metric"
    with pytest.raises(MrekitError, match="needs the word level, which this model does not learn"):
        choose_metric("relation_f1", {"text"}, relations)
    assert TrainingArguments(selection_metric="event_main_argument_f1").selection_metric == "event_main_argument_f1"
