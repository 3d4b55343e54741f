from __future__ import annotations

import json
import shutil
import statistics

import pytest

import mrekit
from mrekit import Example, MrekitError, Span
from mrekit.generative import GenerativeArguments, GenerativeModel
from mrekit.generative.serialization import SETTINGS
from mrekit.integrity import canonical_sha256
from mrekit.predictor import engine_of

TEXTS = ["play the new album by muse", "what will the weather be in paris", "book a table for 2 at 10:30 pm"]


def test_fit_reduces_the_loss_and_selects_on_dev(fitted):
    model, out = fitted
    losses = model.train_losses_
    assert len(losses) == 9  # 3 epochs of 3 batches
    assert statistics.fmean(losses[-3:]) < statistics.fmean(losses[:3]) - 0.5
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3] and log[-1]["selection_metric"] == "frame_accuracy"
    assert log[-1]["dev"]["format_accuracy"] == 1.0 and log[-1]["dev"]["hallucination_rate"] == 0.0
    manifest = json.loads((out / "model-best" / "mrekit.json").read_text())
    assert manifest["engine"] == "generative" and manifest["architecture"] == "seq2seq"
    assert manifest["output"]["task"] == "NER" and "PlayMusic" in manifest["output"]["labels"]
    assert manifest["training"]["epoch"] == log[-1]["best_epoch"]


def test_save_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    model, _ = fitted
    folder = model.save(tmp_path / "saved")
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # not atomic_dir's marker
    assert names == ["README.md", "model", "mrekit.json", "tokenizer"]
    assert not list(folder.rglob("*.bin")) and list((folder / "model").glob("*.safetensors"))
    loaded = GenerativeModel.load(folder)
    for beams in (1, 2):
        before = model.predict(TEXTS, num_beams=beams)
        after = loaded.predict(TEXTS, num_beams=beams)
        assert [p.to_dict() for p in before] == [p.to_dict() for p in after]
    assert loaded.labels_ == model.labels_ and loaded.types_ == model.types_


def test_mrekit_load_dispatches_on_the_manifest(fitted):
    model, out = fitted
    assert engine_of(out) == engine_of(out / "model-best") == "generative"
    nlp = mrekit.load(out)  # a run folder: its model-best
    assert isinstance(nlp, GenerativeModel)
    doc = nlp(TEXTS[0])
    assert isinstance(doc, Example) and doc.meta["format_ok"]
    assert [d.to_dict() for d in nlp.pipe(iter(TEXTS), batch_size=2)] == [d.to_dict() for d in nlp.predict(TEXTS)]
    assert nlp.predict(TEXTS, batch_size=2, consistency="report")[0].meta["generated"] == doc.meta["generated"]


def _copy(out, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(out / "model-best", folder)
    return folder


def _code(folder) -> str:
    with pytest.raises(MrekitError) as err:
        GenerativeModel.load(folder)
    return err.value.code


def test_missing_or_tampered_manifest(fitted, tmp_path):
    _, out = fitted
    folder = _copy(out, tmp_path)
    manifest = json.loads((folder / "mrekit.json").read_text())
    (folder / "mrekit.json").write_text("{not json")
    assert _code(folder) == "E200"
    (folder / "mrekit.json").write_text(json.dumps({**manifest, "format_version": 99}))
    assert _code(folder) == "E200"
    (folder / "mrekit.json").write_text(json.dumps({**manifest, "engine": "encoder"}))
    assert _code(folder) == "E200"
    broken = {**manifest, "output": {**manifest["output"], "format": "yaml"}}
    (folder / "mrekit.json").write_text(json.dumps(broken))
    assert _code(folder) == "E201"  # the settings differ from their recorded hash
    rehashed = {**broken, "config_sha256": canonical_sha256({k: broken[k] for k in SETTINGS})}
    (folder / "mrekit.json").write_text(json.dumps(rehashed))
    assert _code(folder) == "E200"  # and, re-recorded, are still checked
    (folder / "mrekit.json").unlink()
    assert _code(folder) == "E200"
    assert _code(tmp_path / "nothing") == "E100"


def test_changed_or_missing_weights_and_tokenizer(fitted, tmp_path):
    _, out = fitted
    folder = _copy(out, tmp_path)
    weights = next((folder / "model").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert _code(folder) == "E201"
    weights.unlink()
    assert _code(folder) == "E201"
    folder = _copy(out, tmp_path / "again")
    shutil.rmtree(folder / "tokenizer")
    assert _code(folder) == "E201"


def test_text_conditioned_model_reads_gold_labels(gen_train, tiny, tmp_path):
    args = GenerativeArguments(epochs=1, batch_size=8, max_steps=2, max_target_length=24)
    model = GenerativeModel(condition="text", scratch=tiny).fit(gen_train[:8], args=args, output_dir=tmp_path)
    with pytest.raises(MrekitError) as err:
        model.predict(TEXTS)
    assert err.value.code == "E202"
    preds = model.predict(gen_train[:4])
    assert [p.labels for p in preds] == [ex.labels for ex in gen_train[:4]]
    assert all(p.meta["format_ok"] and p.meta["generated"].startswith("/NER/") for p in preds)
    assert GenerativeModel.load(tmp_path).spec_.condition == "text"


def test_unknown_settings(gen_train, tiny):
    with pytest.raises(MrekitError) as err:
        GenerativeArguments.from_dict({"epochz": 1})
    assert err.value.code == "E202"
    with pytest.raises(MrekitError) as err:
        GenerativeModel(scratch={**tiny, "layers": 2}).initialize(gen_train[:2])
    assert err.value.code == "E202"
    with pytest.raises(MrekitError) as err:
        GenerativeModel(model="no/such/checkpoint").initialize(gen_train[:2])
    assert err.value.code == "E100"
    with pytest.raises(MrekitError) as err:  # an entity holding ';' cannot be written in the format
        GenerativeModel(scratch=tiny).initialize([Example("a;b", labels=["x"], spans=[Span(0, 3, "t")])])
    assert err.value.code == "E204" and err.value.field == "train[0]"


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory, gen_train):
    """A random GPT-2 folder with a byte-level tokenizer, as a local 'pretrained' checkpoint."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from mrekit.generative.spec import OutputSpec
    from mrekit.generative.tokenizer import train_tokenizer

    folder = tmp_path_factory.mktemp("gpt2")
    spec = OutputSpec.from_examples(gen_train)
    tokenizer = train_tokenizer([s for ex in gen_train for s in spec.pair(ex)], vocab_size=400)
    tokenizer.save_pretrained(folder)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=256, bos_token_id=1, eos_token_id=1
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def test_causal_lm_fine_tunes_and_decodes_under_constraints(tiny_causal_lm, gen_train, tmp_path):
    args = GenerativeArguments(epochs=1, batch_size=8, max_steps=3, learning_rate=3e-3, max_target_length=32)
    model = GenerativeModel(model=tiny_causal_lm).fit(gen_train, gen_train[:4], args=args, output_dir=tmp_path)
    assert model.architecture_ == "causal" and model.default_learning_rate(args) == 1e-4
    preds = model.predict(TEXTS, num_beams=2)
    assert all(p.meta["format_ok"] and p.meta["hallucinated"] == [] for p in preds)
    reloaded = mrekit.load(tmp_path)
    assert [p.to_dict() for p in reloaded.predict(TEXTS, num_beams=2)] == [p.to_dict() for p in preds]


def test_lora_trains_adapters_and_saves_a_plain_model(tiny_causal_lm, gen_train, tmp_path):
    pytest.importorskip("peft")
    args = GenerativeArguments(epochs=1, batch_size=8, max_steps=2, lora=True, lora_r=4, max_target_length=24)
    model = GenerativeModel(model=tiny_causal_lm).initialize(gen_train, args)
    trainable = sum(p.numel() for p in model.model_.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in model.model_.parameters()) / 2
    model = GenerativeModel(model=tiny_causal_lm).fit(gen_train, args=args, output_dir=tmp_path)
    assert not hasattr(model.model_, "peft_config")  # the best epoch was saved merged
    names = json.loads((tmp_path / "model-best" / "model" / "config.json").read_text())["architectures"]
    assert names == ["GPT2LMHeadModel"]
    assert all(p.meta["format_ok"] for p in model.predict(TEXTS))


def test_the_one_trainer_resumes_a_killed_generative_run_exactly(gen_train, tiny, tmp_path, monkeypatch):
    """Issue 13: the generative engine trains through mrekit.trainer, so it checkpoints and resumes too."""
    import json

    import torch
    from safetensors.torch import load_file

    import mrekit.trainer.loop as loop

    args = GenerativeArguments(
        epochs=3, batch_size=8, learning_rate=3e-3, max_target_length=32, seed=2, threads=1, keep_checkpoint=True
    )
    GenerativeModel(scratch=tiny).fit(gen_train[:16], gen_train[:4], args=args, output_dir=tmp_path / "full")

    class Killed(Exception):
        pass

    original = loop.Trainer._save_checkpoint

    def die_after_epoch_one(self, folder, optimizer, scheduler, state):
        original(self, folder, optimizer, scheduler, state)
        if state["epoch"] == 1:
            raise Killed

    monkeypatch.setattr(loop.Trainer, "_save_checkpoint", die_after_epoch_one)
    with pytest.raises(Killed):
        GenerativeModel(scratch=tiny).fit(gen_train[:16], gen_train[:4], args=args, output_dir=tmp_path / "cut")
    monkeypatch.setattr(loop.Trainer, "_save_checkpoint", original)
    GenerativeModel(scratch=tiny).fit(
        gen_train[:16], gen_train[:4], args=args, output_dir=tmp_path / "cut", resume=True
    )
    full = load_file(str(tmp_path / "full" / "checkpoint" / "state.safetensors"))
    cut = load_file(str(tmp_path / "cut" / "checkpoint" / "state.safetensors"))
    assert full.keys() == cut.keys()
    assert all(torch.equal(full[k], cut[k]) for k in full)
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    with pytest.raises(MrekitError) as err:  # another seed is another run
        other = GenerativeArguments(**{**args.to_dict(), "seed": 3})
        GenerativeModel(scratch=tiny).fit(
            gen_train[:16], gen_train[:4], args=other, output_dir=tmp_path / "cut", resume=True
        )
    assert err.value.code == "E189" and "seed 2 -> 3" in err.value.message
