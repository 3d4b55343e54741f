from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mrekit.cli import app
from mrekit.fewshot import Verbalizer
from mrekit.fewshot.scorers import EmbeddingScorer, MaskedLMScorer


@pytest.fixture(scope="module")
def tiny_mlm(tmp_path_factory, tiny_encoder):
    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path_factory.mktemp("mlm")
    config = BertConfig.from_pretrained(tiny_encoder)
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    # Make the LM love the word "play" at any masked position.
    with torch.no_grad():
        model.cls.predictions.bias[tokenizer.convert_tokens_to_ids("play")] += 50.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_masked_lm_scorer_prefers_the_favoured_word(tiny_mlm):
    scorer = MaskedLMScorer(tiny_mlm)
    scorer.set_verbalizer(Verbalizer({"music": ["play"], "weather": ["rain"], "other": ["book table"]}))
    probs = scorer.predict_proba(["something", "anything else"])
    assert probs.shape == (2, 3)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert scorer.predict(["something"]) == ["music"]
    # "book table" is two words, so it fills (at least) two mask slots
    assert [len(ids) >= 2 for label, ids, _ in scorer.words if label == 2] == [True]
    assert scorer._word_scores(["x"], 2).shape == (1, scorer.model.config.vocab_size, 2)


def test_embedding_scorer_fit_moves_towards_the_shots(tiny_encoder, snips_mini):
    scorer = EmbeddingScorer(tiny_encoder)
    labels = sorted({ex.labels[0] for ex in snips_mini})
    scorer.set_verbalizer(Verbalizer({label: [label.lower()] for label in labels}))
    before = scorer.prototypes.clone()
    scorer.fit(snips_mini, epochs=30, learning_rate=1e-3, seed=0)
    assert not torch.allclose(before, scorer.prototypes)
    accuracy = np.mean(
        [p == ex.labels[0] for p, ex in zip(scorer.predict([e.text for e in snips_mini]), snips_mini, strict=True)]
    )
    assert accuracy == 1.0  # it fits its own shots


def test_embedding_scorer_anchors_each_label_on_its_first_word(tiny_encoder):
    scorer = EmbeddingScorer(tiny_encoder, anchor_weight=0.5)
    scorer.set_verbalizer(Verbalizer({"a": ["alpha"], "b": ["beta", "gamma", "delta"]}, {"b": [9.0, 1.0, 3.0]}))
    alpha, beta, gamma, delta = scorer.embed(["alpha", "beta", "gamma", "delta"])
    assert torch.allclose(scorer.prototypes[0], alpha, atol=1e-5)  # a single word is the label's vector
    others = torch.nn.functional.normalize((gamma + 3 * delta) / 4, dim=0)  # the anchor's weight (9) is not used
    expected = torch.nn.functional.normalize(0.5 * beta + 0.5 * others, dim=0)
    assert torch.allclose(scorer.prototypes[1], expected, atol=1e-5)
    with pytest.raises(ValueError, match="anchor_weight"):
        EmbeddingScorer(tiny_encoder, anchor_weight=1.5)


def test_fewshot_cli(tmp_path, tiny_encoder, fixtures):
    from mrekit.formats import bio, jsonl

    data = tmp_path / "d"
    examples = list(bio.read(fixtures / "bio_mini"))
    jsonl.write(examples, data / "train.jsonl")
    jsonl.write(examples[:5], data / "test.jsonl")
    out = tmp_path / "r.json"
    args = ["fewshot", "--data", str(data), "--encoder", str(tiny_encoder), "--shots", "1", "--seeds", "2"]
    args += ["--verbalizer", "names", "--verbalizer", "wli", "--verbalizer", "finetune", "--finetune-epochs", "1"]
    result = CliRunner().invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())
    assert set(results) == {"names@1", "wli@1", "finetune@1"}
    assert results["wli@1"]["text_accuracy"]["n"] == 2
    assert 0.0 <= results["names@1"]["text_macro_f1"]["mean"] <= 1.0


def test_fewshot_cli_rejects_unknown_verbalizer(tmp_path):
    out = tmp_path / "r.json"
    args = ["fewshot", "--data", "snips", "--verbalizer", "names", "--verbalizer", "wlii", "--output", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "[E183] unknown verbalizer(s): wlii" in result.output
    assert not out.exists()
    result = CliRunner().invoke(app, ["fewshot", "--data", "snips", "--verbalizer", "file"])
    assert result.exit_code == 1 and "needs --verbalizer-file" in result.output
