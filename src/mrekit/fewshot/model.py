"""Few-shot scorers as model folders: saved, hash-checked, loaded by ``mrekit.load`` and served.

Layout (an :class:`~mrekit.fewshot.scorers.EmbeddingScorer`)::

    mrekit.json          manifest: engine "fewshot", format version, versions, labels, scorer
                         settings, SHA-256 of every other file ("files") and of the settings
                         that shape predictions ("config_sha256")
    model.safetensors    the encoder's weights ("encoder.*") and the label vectors ("prototypes")
    encoder/config.json  the encoder's architecture
    tokenizer/           the fast tokenizer's files
    README.md            the model card (:mod:`mrekit.modelcard`)

Loading refuses a folder that asks to run its own code (``E185``), checks every file's
hash and refuses added files (``E213``), reads safetensors only and never unpickles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mrekit.encoder.backbone import without_pooler
from mrekit.errors import MrekitError
from mrekit.fewshot.scorers import EmbeddingScorer
from mrekit.fewshot.verbalizers import Verbalizer, names_verbalizer
from mrekit.integrity import (
    canonical_sha256,
    check_config,
    check_file_map,
    check_no_remote_code,
    check_regular,
    hash_folder,
    read_json,
    reading,
    verify_files,
)
from mrekit.modelcard import CARD, card_fields, encoder_licence, render_card
from mrekit.outputs import atomic_dir
from mrekit.predictor import MANIFEST, Predictor, check_batch_size, check_format, check_texts, model_folder
from mrekit.predictor import read_manifest as read_manifest_file
from mrekit.runtime import offline, provenance
from mrekit.schema import Example

FORMAT = "mrekit-fewshot-model"
FORMAT_VERSION = 1
ENGINE = "fewshot"
WEIGHTS = "model.safetensors"
#: Manifest fields that shape predictions, covered by "config_sha256".
SETTINGS = ("labels", "scorer")


class FewShotModel(Predictor):
    """A fitted few-shot scorer behind the :class:`~mrekit.predictor.Predictor` API.

    ``predict`` gives each text its best label (``labels``) and every label's
    probability (``label_scores``); there are no spans.

    Example:
        >>> nlp = FewShotModel.fit(shots, verbalizer=wli_verbalizer(shots))  # doctest: +SKIP
        >>> nlp.save("models/fewshot")  # doctest: +SKIP
        >>> mrekit.load("models/fewshot")("will it rain in rome").labels  # doctest: +SKIP
        ['GetWeather']
    """

    engine = ENGINE
    span_labels: list[str] = []
    multi_label = False
    mode = None

    def __init__(self, scorer: EmbeddingScorer, *, manifest: dict[str, Any] | None = None) -> None:
        if not isinstance(scorer, EmbeddingScorer):
            raise MrekitError("E214", f"only an EmbeddingScorer can be a model folder, not {type(scorer).__name__}")
        if scorer.prototypes is None:
            raise MrekitError("E214", "the scorer has no label vectors", hint="call set_verbalizer() first")
        self.scorer = scorer
        self.manifest_ = manifest or {}
        self.path_: Path | None = None

    @classmethod
    def fit(
        cls,
        shots: Sequence[Example],
        *,
        verbalizer: Verbalizer | None = None,
        encoder: str | Path | None = None,
        epochs: int = 0,
        seed: int = 0,
    ) -> FewShotModel:
        """Label vectors from ``verbalizer`` (default: the label names of ``shots``), then ``epochs`` on the shots."""
        labels = sorted({label for ex in shots for label in ex.labels})
        scorer = EmbeddingScorer(encoder)
        scorer.set_verbalizer(verbalizer or names_verbalizer(labels))
        if epochs:
            scorer.fit(shots, epochs=epochs, seed=seed)
        return cls(scorer)

    @property
    def labels_(self) -> list[str]:
        """The text labels, in column order of the scores."""
        return list(self.scorer.labels)

    @property
    def text_labels(self) -> list[str]:
        """The text labels (what ``mrekit serve`` reports)."""
        return self.labels_

    def predict(self, texts: Sequence[str], *, batch_size: int = 64) -> list[Example]:
        """Each text's best label and every label's probability.

        Raises:
            MrekitError: ``E104`` for one ``str`` instead of texts, ``E183`` for a bad ``batch_size``.
        """
        texts = check_texts(texts)
        check_batch_size(batch_size)
        self.scorer.batch_size = batch_size
        probs = self.scorer.predict_proba(texts) if texts else []
        labels = self.labels_
        results = []
        for text, row in zip(texts, probs, strict=True):
            scores = {label: float(p) for label, p in zip(labels, row, strict=True)}
            results.append(Example(text, labels=[labels[int(row.argmax())]], label_scores=scores))
        return results

    def save(
        self,
        folder: str | Path,
        *,
        overwrite: bool = False,
        metrics: dict[str, Any] | None = None,
        data_licence: str | None = None,
    ) -> Path:
        """Write the model folder atomically (see the module docstring); ``metrics`` go to the card."""
        return save_fewshot(self.scorer, folder, overwrite=overwrite, metrics=metrics, data_licence=data_licence)

    @classmethod
    def load(cls, folder: str | Path, **options: Any) -> FewShotModel:
        """Load a folder written by :meth:`save` (``backend``, ``device``, ``threads`` are ignored)."""
        scorer, manifest, path = load_fewshot(folder)
        model = cls(scorer, manifest=manifest)
        model.path_ = path
        return model


def save_fewshot(
    scorer: EmbeddingScorer,
    folder: str | Path,
    *,
    overwrite: bool = False,
    metrics: dict[str, Any] | None = None,
    data_licence: str | None = None,
) -> Path:
    """Write a fitted embedding scorer as a model folder, atomically.

    Raises:
        MrekitError: ``E214`` for a scorer without label vectors; ``E170`` for an existing folder.
    """
    from safetensors.torch import save_file

    if scorer.prototypes is None:
        raise MrekitError("E214", "the scorer has no label vectors", hint="call set_verbalizer() first")
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        state = {f"encoder.{k}": v.detach().cpu().contiguous() for k, v in scorer.model.state_dict().items()}
        state["prototypes"] = scorer.prototypes.detach().cpu().contiguous()
        save_file(state, str(tmp / WEIGHTS))
        scorer.model.config.save_pretrained(tmp / "encoder")
        scorer.tokenizer.save_pretrained(tmp / "tokenizer")
        source = getattr(scorer, "encoder_source", None)
        settings = {
            "labels": list(scorer.labels),
            "scorer": {
                "kind": "embedding",
                "temperature": scorer.temperature,
                "anchor_weight": scorer.anchor_weight,
                "batch_size": scorer.batch_size,
            },
        }
        manifest = {
            "format": FORMAT,
            "engine": ENGINE,
            "format_version": FORMAT_VERSION,
            **provenance(),
            **card_fields(encoder=encoder_licence(source, bundled=source is None), data=data_licence),
            **settings,
            "config_sha256": canonical_sha256(settings),
        }
        card = render_card(manifest, labels=scorer.labels, span_types=[], metrics=metrics)
        # Hashed with the other files: the card changes no prediction, but an edited card is tampering.
        (tmp / CARD).write_text(card, encoding="utf-8")
        manifest["files"] = hash_folder(tmp, skip=(MANIFEST,))
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return Path(folder)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """Read and check a few-shot model folder's manifest.

    Raises:
        MrekitError: ``E100`` for a missing folder; ``E212`` for a folder of another
            engine or format version, or with missing or mistyped fields.

    Example:
        >>> read_manifest("no/such/model")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E100] no/such/model: model folder not found
    """
    path, manifest = read_manifest_file(folder, code="E212")
    manifest_path = path / MANIFEST
    if manifest.get("engine") != ENGINE:
        raise MrekitError("E212", "not a few-shot model (the manifest names another engine)", path=manifest_path)
    check_format(manifest, manifest_path, format=FORMAT, version=FORMAT_VERSION, code="E212")
    kinds = {"labels": list, "scorer": dict, "config_sha256": str, "files": dict}
    for key, kind in kinds.items():
        if not isinstance(manifest.get(key), kind):
            what = "no" if key not in manifest else f"a {type(manifest[key]).__name__} as"
            raise MrekitError("E212", f"the manifest has {what} {key!r}", path=manifest_path, field=key)
    if manifest["scorer"].get("kind") != "embedding" or not all(isinstance(x, str) for x in manifest["labels"]):
        raise MrekitError("E212", "the manifest's scorer or labels are malformed", path=manifest_path, field="scorer")
    files = check_file_map(manifest["files"], manifest_path, code="E212")
    if WEIGHTS not in files or "encoder/config.json" not in files:
        raise MrekitError("E212", f"the manifest does not record {WEIGHTS} and encoder/config.json", path=manifest_path)
    return manifest


def load_fewshot(folder: str | Path) -> tuple[EmbeddingScorer, dict[str, Any], Path]:
    """``(scorer, manifest, folder)`` from a folder written by :func:`save_fewshot`.

    Raises:
        MrekitError: ``E212`` for a foreign or malformed folder; ``E185`` when it asks to
            run code; ``E213`` for missing, added or changed files and settings; ``E187``
            for special or oversized files.
    """
    with offline():
        return _load_fewshot(folder)


def _load_fewshot(folder: str | Path) -> tuple[EmbeddingScorer, dict[str, Any], Path]:
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = model_folder(folder)
    manifest = read_manifest(path)
    check_no_remote_code(path / "encoder")
    check_no_remote_code(path / "tokenizer")
    verify_files(path, manifest["files"], skip=(MANIFEST,), code="E213")
    if canonical_sha256({key: manifest.get(key) for key in SETTINGS}) != manifest["config_sha256"]:
        raise MrekitError("E213", "the labels or scorer settings differ from their recorded hash", path=path / MANIFEST)
    weights, config_path = path / WEIGHTS, path / "encoder" / "config.json"
    check_config(read_json(config_path, code="E213"), config_path, weights_bytes=check_regular(weights))
    with reading(path, code="E213", what="the encoder, tokenizer or weights"):
        config = AutoConfig.from_pretrained(path / "encoder", local_files_only=True, trust_remote_code=False)
        encoder = AutoModel.from_config(config, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(
            path / "tokenizer", local_files_only=True, use_fast=True, trust_remote_code=False
        )
        state = load_file(str(weights))
    prototypes = state.pop("prototypes", None)
    encoder_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
    if not any(key.startswith("pooler.") for key in encoder_state):
        encoder = without_pooler(encoder)
    try:
        missing, unexpected = encoder.load_state_dict(encoder_state, strict=False)
    except RuntimeError as err:
        raise MrekitError(
            "E213", f"weights do not fit the encoder ({str(err).splitlines()[0]})", path=weights
        ) from None
    labels = manifest["labels"]
    if missing or unexpected or prototypes is None or tuple(prototypes.shape) != (len(labels), config.hidden_size):
        raise MrekitError("E213", "weights do not fit the encoder and labels", path=weights)
    settings = manifest["scorer"]
    scorer = EmbeddingScorer.from_parts(
        encoder,
        tokenizer,
        labels=labels,
        prototypes=prototypes.to(torch.float32),
        temperature=float(settings.get("temperature", 0.05)),
        batch_size=int(settings.get("batch_size", 64)),
        anchor_weight=float(settings.get("anchor_weight", 0.5)),
    )
    return scorer, manifest, path


def train_from_config(config: dict[str, Any], output: str | Path, **_: Any) -> dict[str, Any]:
    """``mrekit train --engine fewshot`` is not a thing: few-shot models are fitted in Python.

    Raises:
        MrekitError: always ``E214``.
    """
    raise MrekitError(
        "E214",
        "the fewshot engine is not trained with mrekit train",
        field="engine",
        hint="fit it in Python: FewShotModel.fit(shots, verbalizer=...).save(DIR)",
    )
