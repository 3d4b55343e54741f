"""Scoring texts against verbalizers.

* :class:`EmbeddingScorer` works with the bundled encoder out of the box: each
  label is a vector made of its verbalizer words (the first word, the label's
  name, as anchor plus the weighted mean of the others), and a text goes to the
  nearest label (cosine). ``fit`` fine-tunes the encoder and the label vectors
  on the K shots, starting from the verbalizer (SetFit-like, with a softmax over
  cosine similarities as the contrastive objective).
* :class:`MaskedLMScorer` scores a prompt with a mask slot with any local masked
  LM: a label's score is the log of the mean probability of its words at the
  slot, a word of ``n`` subwords filling ``n`` mask tokens.

Both load local folders only, vetted first (:func:`mrekit.integrity.check_hf_folder`:
no ``auto_map``, safetensors weights only) and with ``trust_remote_code=False``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mrekit.encoder.backbone import load_encoder
from mrekit.fewshot.verbalizers import Verbalizer
from mrekit.integrity import check_hf_folder, reading
from mrekit.runtime import offline
from mrekit.schema import Example


def _mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).float()
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1e-6)


class EmbeddingScorer:
    """Nearest-verbalizer classification with a sentence encoder.

    Args:
        encoder: ``None``/``"minilm"`` for the bundled encoder, or a local folder.
        temperature: Softmax temperature over cosine similarities.
        batch_size: Texts per forward pass.
        anchor_weight: Share of a label's vector given to its first word (the label name in
            ``names`` and ``wli`` verbalizers); the other words share the rest by their weights.

    Example:
        >>> scorer = EmbeddingScorer()  # doctest: +SKIP
        >>> scorer.set_verbalizer(names_verbalizer(["PlayMusic", "GetWeather"]))  # doctest: +SKIP
        >>> scorer.predict(["will it rain"])  # doctest: +SKIP
        ['GetWeather']
    """

    def __init__(
        self,
        encoder: str | Path | None = None,
        *,
        temperature: float = 0.05,
        batch_size: int = 64,
        anchor_weight: float = 0.5,
    ) -> None:

        if not 0.0 <= anchor_weight <= 1.0:
            raise ValueError(f"anchor_weight must be in [0, 1], not {anchor_weight}")
        self.model, self.tokenizer = load_encoder(encoder)
        self.temperature = temperature
        self.batch_size = batch_size
        self.anchor_weight = anchor_weight
        self.labels: list[str] = []
        self.prototypes: torch.Tensor | None = None
        #: Where the encoder came from (``None``: the bundled MiniLM), for the model card's licence.
        self.encoder_source: str | None = None if encoder is None or str(encoder) == "minilm" else str(encoder)

    @classmethod
    def from_parts(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        labels: Sequence[str],
        prototypes: torch.Tensor,
        temperature: float = 0.05,
        batch_size: int = 64,
        anchor_weight: float = 0.5,
    ) -> EmbeddingScorer:
        """A fitted scorer from its parts (what :mod:`mrekit.fewshot.model` loads), without loading an encoder."""
        scorer = cls.__new__(cls)
        scorer.model, scorer.tokenizer = model.eval(), tokenizer
        scorer.temperature, scorer.batch_size, scorer.anchor_weight = temperature, batch_size, anchor_weight
        scorer.labels, scorer.prototypes = list(labels), prototypes
        scorer.encoder_source = None
        return scorer

    def _encode(self, texts: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=128, return_tensors="pt")
        states = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return F.normalize(_mean_pool(states, batch["attention_mask"]), dim=-1)

    @torch.no_grad()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-length embeddings, one row per text."""
        self.model.eval()
        rows = [self._encode(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return torch.cat(rows) if rows else torch.zeros(0, self.model.config.hidden_size)

    def set_verbalizer(self, verbalizer: Verbalizer) -> None:
        """Label vectors: ``anchor_weight`` x the first word + the rest x the weighted mean of the others."""
        self.labels = verbalizer.labels
        self.prototypes = torch.stack([self._label_vector(verbalizer, label) for label in self.labels])

    def _label_vector(self, verbalizer: Verbalizer, label: str) -> torch.Tensor:
        words = verbalizer.words[label]
        embeddings = self.embed(words)
        if len(words) == 1:
            return embeddings[0]
        # Without the anchor, dozens of entity strings average into a vector close to every label's.
        weights = torch.tensor(verbalizer.weights_of(label)[1:], dtype=torch.float).unsqueeze(1)
        others = F.normalize((embeddings[1:] * weights).sum(0) / weights.sum().clamp(min=1e-6), dim=-1)
        return F.normalize(self.anchor_weight * embeddings[0] + (1.0 - self.anchor_weight) * others, dim=-1)

    def fit(
        self,
        shots: Sequence[Example],
        *,
        epochs: int = 10,
        learning_rate: float = 5e-5,
        prototype_learning_rate: float = 1e-3,
        seed: int = 0,
    ) -> None:
        """Fine-tune encoder and label vectors on the shots (call :meth:`set_verbalizer` first).

        ``prototype_learning_rate`` is kept small so that a few steps on a few shots refine the
        verbalizer's label vectors instead of overwriting them (1e-2 did the latter on dev).
        """
        if self.prototypes is None:
            raise RuntimeError("set_verbalizer() first: the verbalizer initialises the label vectors")
        torch.manual_seed(seed)
        index = {label: i for i, label in enumerate(self.labels)}
        data = [(ex.text, index[ex.labels[0]]) for ex in shots if ex.labels and ex.labels[0] in index]
        prototypes = torch.nn.Parameter(self.prototypes.clone())
        optimizer = torch.optim.AdamW(
            [
                {"params": self.model.parameters(), "lr": learning_rate},
                {"params": [prototypes], "lr": prototype_learning_rate},
            ]
        )
        generator = np.random.default_rng(seed)
        self.model.train()
        for _ in range(epochs):
            order = generator.permutation(len(data))
            for start in range(0, len(order), 16):
                chunk = [data[i] for i in order[start : start + 16]]
                emb = self._encode([t for t, _ in chunk])
                logits = emb @ F.normalize(prototypes, dim=-1).T / self.temperature
                loss = F.cross_entropy(logits, torch.tensor([y for _, y in chunk]))
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        self.model.eval()
        self.prototypes = F.normalize(prototypes.detach(), dim=-1)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Label probabilities (softmax over cosine / temperature), columns in ``labels`` order."""
        sims = self.embed(texts) @ self.prototypes.T
        return torch.softmax(sims / self.temperature, dim=-1).numpy()

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The best label per text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]


class MaskedLMScorer:
    """Prompt scoring with a masked LM: ``template`` holds ``{text}`` and ``{mask}``.

    Raises:
        MrekitError: ``E185``-``E188`` for a folder that must not be loaded (see
            :func:`mrekit.integrity.check_hf_folder`).

    Example:
        >>> scorer = MaskedLMScorer("path/to/bert")  # doctest: +SKIP
        >>> scorer.set_verbalizer(names_verbalizer(["positive", "negative"]))  # doctest: +SKIP
        >>> scorer.predict(["a great film"])  # doctest: +SKIP
        ['positive']
    """

    def __init__(
        self, model_dir: str | Path, *, template: str = "{text} It was about {mask}.", batch_size: int = 32
    ) -> None:

        if "{text}" not in template or "{mask}" not in template:
            raise ValueError("the template needs {text} and {mask}")
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        folder = check_hf_folder(Path(model_dir))
        local = {"local_files_only": True, "trust_remote_code": False}
        with offline(), reading(folder, what="the masked LM's tokenizer or weights"):
            self.tokenizer = AutoTokenizer.from_pretrained(folder, **local)
            self.model = AutoModelForMaskedLM.from_pretrained(folder, use_safetensors=True, **local).eval()
        self.template = template
        self.batch_size = batch_size
        self.labels: list[str] = []
        self.words: list[tuple[int, list[int], float]] = []  # (label index, subword ids, weight)

    def set_verbalizer(self, verbalizer: Verbalizer) -> None:
        """Tokenize every label word (without special tokens)."""
        self.labels = verbalizer.labels
        self.words = []
        for i, label in enumerate(self.labels):
            for word, weight in zip(verbalizer.words[label], verbalizer.weights_of(label), strict=True):
                ids = self.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
                if ids:
                    self.words.append((i, ids, weight))

    @torch.no_grad()
    def _word_scores(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """Log-probs ``(texts, vocab, length)`` at ``length`` consecutive mask slots."""
        mask = " ".join([self.tokenizer.mask_token] * length)
        prompts = [self.template.format(text=t, mask=mask) for t in texts]
        batch = self.tokenizer(prompts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        logits = self.model(**batch).logits.log_softmax(-1)
        positions = (batch["input_ids"] == self.tokenizer.mask_token_id).nonzero()
        slots = logits[positions[:, 0], positions[:, 1]].view(len(texts), -1, logits.size(-1))
        return slots[:, :length].transpose(1, 2)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Label probabilities, columns in ``labels`` order."""
        out = np.zeros((len(texts), len(self.labels)))
        by_length: dict[int, list[tuple[int, list[int], float]]] = {}
        for item in self.words:
            by_length.setdefault(len(item[1]), []).append(item)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            per_label: list[list[tuple[torch.Tensor, float]]] = [[] for _ in self.labels]
            for length, items in by_length.items():
                scores = self._word_scores(chunk, length)
                for label, ids, weight in items:
                    picked = scores[:, ids, range(length)]  # each subword at its own slot
                    per_label[label].append((picked.mean(dim=1), weight))
            rows = []
            for entries in per_label:
                if not entries:
                    rows.append(torch.full((len(chunk),), -math.inf))
                    continue
                word_scores = torch.stack([s for s, _ in entries], dim=1)
                weights = torch.tensor([w for _, w in entries]).log()
                # log of the weighted mean word probability
                rows.append(torch.logsumexp(word_scores + weights, dim=1) - torch.logsumexp(weights, dim=0))
            out[start : start + len(chunk)] = torch.softmax(torch.stack(rows, dim=1), dim=1).numpy()
        return out

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The best label per text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=1)]


def make_scorer(kind: str, **options: Any) -> EmbeddingScorer | MaskedLMScorer:
    """``embedding`` (bundled encoder by default) or ``mlm`` (needs ``model_dir``)."""
    if kind == "embedding":
        return EmbeddingScorer(options.get("encoder"))
    if kind == "mlm":
        return MaskedLMScorer(options["model_dir"], template=options.get("template", "{text} It was about {mask}."))
    raise ValueError(f"scorer must be 'embedding' or 'mlm', not {kind!r}")
