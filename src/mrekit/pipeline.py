"""Using a model: ``mrekit.load(DIR)``, ``nlp(text)``, ``nlp.pipe(texts)``, and the fit/predict API.

Example:
    >>> nlp = load("runs/snips/model-best")  # doctest: +SKIP
    >>> doc = nlp("play the new album by muse")  # doctest: +SKIP
    >>> doc.labels, [(doc.surface(s), s.label) for s in doc.spans]  # doctest: +SKIP
    (['PlayMusic'], [('muse', 'artist')])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrekit.decoding import TagTable, extract_spans, span_scores, viterbi
from mrekit.errors import MrekitError
from mrekit.features import LabelSpace, bucketed_batches, collate, featurize_texts
from mrekit.formats._words import uses_spaces
from mrekit.models.joint import JointConfig, JointModel
from mrekit.schema import Example, Span
from mrekit.streaming import StreamingPredictor, check_batch_size, check_consistency, check_texts
from mrekit.training_checks import check_max_length, encoder_position_limit, position_limit

logger = logging.getLogger(__name__)


def predict_examples(
    model: JointModel,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    consistency: str = "report",
    backend: Any = None,
    warn_truncated: bool = True,
) -> list[Example]:
    """Predict text labels and spans for ``texts``, in input order.

    Args:
        model: A joint model (its config, tags and transitions are used by every backend).
        tokenizer: Its fast tokenizer.
        texts: Raw texts.
        batch_size: Texts per forward pass (batches group similar lengths).
        consistency: ``report`` marks spans whose label was never seen with the
            predicted text label in training (``meta["inconsistent_spans"]``);
            ``enforce`` forbids such span labels while decoding; ``off`` does neither.
        backend: A :mod:`mrekit.backends` backend (PyTorch by default).
        warn_truncated: Log a warning per text cut at ``max_length`` (the trainer
            counts dev truncation once instead).

    Returns:
        One :class:`Example` per text with ``labels``, ``label_scores`` and
        scored ``spans``; ``meta["truncated"]`` is set for texts cut at ``max_length``.

    Raises:
        MrekitError: ``E104`` for one ``str`` instead of a list of texts, or an item
            that is not a ``str``; ``E183`` for a bad ``batch_size`` or ``consistency``.
    """
    from mrekit.backends import TorchBackend, transitions

    texts = check_texts(texts)
    check_batch_size(batch_size)
    check_consistency(consistency)
    config = model.config
    backend = backend or TorchBackend(model)
    space = LabelSpace(config.text_labels, config.span_labels, config.multi_label)
    features = featurize_texts(texts, tokenizer, config.max_length)
    decoder = _Decoder(config, *transitions(model), consistency == "enforce")
    pad = tokenizer.pad_token_id or 0
    results: list[Example | None] = [None] * len(texts)
    for batch_ids in bucketed_batches([len(f.input_ids) for f in features], batch_size, seed=None):
        items = [features[i] for i in batch_ids]
        batch = collate(items, space, pad)
        decoded = decoder(texts, batch_ids, items, batch["real_mask"].numpy(), *backend.scores(batch))
        for index, example in zip(batch_ids, decoded, strict=True):
            results[index] = example
    for example, feature in zip(results, features, strict=True):
        if feature.truncated:
            example.meta["truncated"] = True
            if warn_truncated:
                logger.warning("text truncated to %d tokens: %.40r...", config.max_length, example.text)
        if consistency != "off":
            _mark_inconsistent(example, config)
    return results  # type: ignore[return-value]


class _Decoder:
    """Scores of a batch -> examples: Viterbi, span extraction, offsets, labels."""

    def __init__(self, config: JointConfig, trans: np.ndarray, start: np.ndarray, enforce: bool) -> None:
        self.config = config
        self.trans, self.start = trans, start
        self.table = TagTable.from_tags(config.tags)
        self.allowed = _allowed_tags(config) if enforce else None
        self.types = [tag[2:] for tag in config.tags]

    def __call__(self, texts, batch_ids, items, mask, text_probs, tag_scores) -> list[Example]:
        if self.allowed is not None:
            # Forbid span types never seen with the predicted text label.
            permitted = self.allowed[text_probs.argmax(axis=1)]
            tag_scores = np.where(permitted[:, None, :], tag_scores, -1e4)
        paths = viterbi(tag_scores, mask, self.trans, self.start)
        path_probs = np.take_along_axis(_softmax(tag_scores), paths[..., None], axis=2)[..., 0]
        rows, first, last = extract_spans(paths, mask, self.table)
        scores = span_scores(path_probs, rows, first, last)
        offsets = np.zeros(mask.shape + (2,), dtype=np.int64)
        for row, item in enumerate(items):
            offsets[row, : len(item.offsets)] = item.offsets
        kinds = self.table.kind[paths[rows, first]]
        per_row: list[list[Span]] = [[] for _ in items]
        found = zip(
            rows.tolist(),
            offsets[rows, first, 0].tolist(),
            offsets[rows, last, 1].tolist(),
            kinds.tolist(),
            scores.tolist(),
            strict=True,
        )
        for row, s, e, kind, score in found:
            s, e = _snap_to_words(texts[batch_ids[row]], s, e)
            per_row[row].append(Span(s, e, self.types[kind], score=round(score, 4)))
        word_level = "word" in self.config.levels
        out = []
        for row, index in enumerate(batch_ids):
            labels, label_scores = _text_labels(text_probs[row], self.config)
            out.append(
                Example(
                    texts[index],
                    labels=labels,
                    label_scores=label_scores or None,
                    spans=per_row[row] if word_level else None,
                )
            )
        return out


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _allowed_tags(config: JointConfig) -> np.ndarray:
    table = np.ones((max(1, len(config.text_labels)), len(config.tags)), dtype=bool)
    seen = config.consistency or {}
    for row, label in enumerate(config.text_labels):
        if label in seen:
            ok = set(seen[label])
            table[row] = [tag == "O" or tag[2:] in ok for tag in config.tags]
    return table


def _text_labels(probs: np.ndarray, config: JointConfig) -> tuple[list[str], dict[str, float]]:
    if not config.text_labels or "text" not in config.levels:
        return [], {}
    scores = {label: float(p) for label, p in zip(config.text_labels, probs, strict=False)}
    if config.multi_label:
        thresholds = np.array(config.thresholds or [0.5] * len(config.text_labels))
        chosen = [config.text_labels[i] for i in np.flatnonzero(probs[: len(thresholds)] >= thresholds)]
        return chosen, scores
    return [config.text_labels[int(probs.argmax())]], scores


def _snap_to_words(text: str, start: int, end: int) -> tuple[int, int]:
    # In scripts with spaces a span never starts or ends inside a word: a tag
    # error on one subword ("mu" + "##se") would otherwise cut the word.
    if not uses_spaces(text[start:end]):
        return start, end
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end


def _mark_inconsistent(example: Example, config: JointConfig) -> None:
    if not config.consistency or not example.labels or not example.spans:
        return
    ok = {s for label in example.labels for s in config.consistency.get(label, [])}
    bad = [i for i, span in enumerate(example.spans) if span.label not in ok]
    if bad:
        example.meta["inconsistent_spans"] = bad


class MREModel(StreamingPredictor):
    """Joint text + word level extractor with a scikit-learn/SetFit-style API.

    The constructor holds settings only; :meth:`fit` builds and trains the model.

    Args:
        mode: ``mre`` (default), ``shared`` or ``isolated``.
        encoder: ``None``/``"minilm"`` for the bundled MiniLM, or a local model folder.
        use_crf: Train a CRF over the BIO tags.
        max_length: Subword tokens per text (at most the encoder's position limit).
        levels: Levels to learn (``["text", "word"]`` by default).
        encoder_layers: Use only the encoder's first N layers: a faster, smaller
            model (``None`` keeps them all).

    Raises:
        MrekitError: ``E183`` for a setting of the wrong type or out of range, checked
            here (a local encoder's position limit too) and again in :meth:`fit`.

    Example:
        >>> model = MREModel(mode="mre")  # doctest: +SKIP
        >>> model.fit(train, dev, args=TrainingArguments(epochs=3))  # doctest: +SKIP
        >>> model.predict(["play muse"])[0].labels  # doctest: +SKIP
        ['PlayMusic']
    """

    def __init__(
        self,
        mode: str = "mre",
        encoder: str | Path | None = None,
        *,
        use_crf: bool = False,
        max_length: int = 128,
        levels: Sequence[str] = ("text", "word"),
        encoder_layers: int | None = None,
    ) -> None:
        if isinstance(levels, str):
            raise MrekitError("E183", f"levels must be a list such as [{levels!r}], not a str", field="levels")
        self.mode = mode
        self.encoder_layers = encoder_layers
        self.encoder = encoder
        self.use_crf = use_crf
        self.max_length = max_length
        self.levels = list(levels)
        self.model_: JointModel | None = None
        self.tokenizer_: Any = None
        self.backend_: Any = None
        self.path_: Path | None = None
        self._check_settings()

    def _check_settings(self) -> None:
        """``E183`` for a model setting of the wrong type or out of range."""
        for name, value, ok, what in (
            (
                "max_length",
                self.max_length,
                _is_int(self.max_length) and self.max_length >= 3,
                "an integer of at least 3",
            ),
            ("use_crf", self.use_crf, isinstance(self.use_crf, bool), "true or false"),
            (
                "encoder_layers",
                self.encoder_layers,
                self.encoder_layers is None or (_is_int(self.encoder_layers) and self.encoder_layers >= 1),
                "an integer of at least 1 (or null)",
            ),
            ("encoder", self.encoder, self.encoder is None or isinstance(self.encoder, (str, Path)), "a folder path"),
        ):
            if not ok:
                raise MrekitError("E183", f"{name} must be {what}, not {value!r}", field=name)
        JointConfig([], [], mode=self.mode, levels=self.levels, max_length=self.max_length)  # mode and levels
        if self.encoder is not None and str(self.encoder) != "minilm":  # the bundled one is checked in fit
            check_max_length(self.max_length, encoder_position_limit(self.encoder), where=self.encoder)

    def fit(
        self,
        train: Sequence[Example],
        dev: Sequence[Example] | None = None,
        *,
        args: Any = None,
        output_dir: str | Path | None = None,
        resume: bool = False,
        progress: Any = None,
    ) -> MREModel:
        """Train on ``train``, select on ``dev``; examples may annotate one level only.

        Args:
            train: Training examples.
            dev: Development examples for model selection (and multi-label thresholds).
            args: :class:`mrekit.training.TrainingArguments`.
            output_dir: Where checkpoints, the log and ``model-best`` go (a temporary
                folder when ``None``).
            resume: Continue an interrupted run in ``output_dir``.
            progress: A ``rich.progress.Progress`` to report to.
        """
        import tempfile

        from mrekit.models.encoder import load_encoder
        from mrekit.models.serialization import load_model, save_model
        from mrekit.training import Trainer, TrainingArguments, seed_everything
        from mrekit.training_checks import check_training_data

        if isinstance(args, Mapping):
            args = TrainingArguments.from_dict(args)
        args = args if args is not None else TrainingArguments()
        if not isinstance(args, TrainingArguments):
            raise MrekitError("E183", f"args must be TrainingArguments, not {type(args).__name__}", field="args")
        self._check_settings()
        train = list(train)
        check_training_data(train, self.levels)
        seed_everything(args.seed)
        space = LabelSpace.from_examples(train)
        config = JointConfig(
            text_labels=space.text_labels,
            span_labels=space.span_labels,
            mode=self.mode,
            multi_label=space.multi_label,
            use_crf=self.use_crf,
            levels=self.levels,
            max_length=self.max_length,
            consistency=_consistency(train),
        )
        encoder, tokenizer = load_encoder(self.encoder, num_layers=self.encoder_layers)
        check_max_length(self.max_length, position_limit(encoder.config.to_dict()))
        model = JointModel(config, encoder)
        out = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="mrekit-"))
        Trainer(model, tokenizer, args).train(train, dev, out, resume=resume, progress=progress)
        self.model_, self.tokenizer_, manifest = load_model(out / "model-best")
        self.path_ = out / "model-best"
        # A word-only model of multi-label data has text labels in its space but no text head.
        if config.multi_label and dev and self.model_.has_text:
            self.model_.config.thresholds = tune_thresholds(self, dev)
            # The thresholds are part of the model: model-best must hold them, or predict,
            # serve, evaluate and exports of the folder would decide at 0.5.
            save_model(self.model_, self.tokenizer_, self.path_, extra=_saved_extra(manifest), overwrite=True)
        return self

    @classmethod
    def load(cls, folder: str | Path, *, backend: str = "auto", threads: int | None = None) -> MREModel:
        """Load a saved model folder (or a training output folder holding ``model-best``).

        Args:
            folder: The model folder.
            backend: ``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (an ONNX export
                when present and onnxruntime is installed, int8 first; else torch).
            threads: CPU threads for ONNX Runtime (default: torch's).
        """
        from mrekit.backends import choose_backend
        from mrekit.models.serialization import load_model

        path = Path(folder)
        if (path / "model-best" / "mrekit.json").exists():
            path = path / "model-best"
        model, tokenizer, manifest = load_model(path)
        config = model.config
        obj = cls(mode=config.mode, use_crf=config.use_crf, max_length=config.max_length, levels=config.levels)
        obj.model_, obj.tokenizer_, obj.manifest_ = model, tokenizer, manifest
        obj.backend_ = choose_backend(model, path, backend, threads=threads)
        obj.path_ = path
        return obj

    def export(self, *, quantize: bool = False) -> list[Path]:
        """Write the ONNX export(s) into the loaded model folder (see :mod:`mrekit.backends`)."""
        from mrekit.backends import export_onnx

        if getattr(self, "path_", None) is None:
            raise RuntimeError("save() and load() the model before exporting it")
        return export_onnx(self._fitted(), self.path_, quantize=quantize)

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder atomically.

        Args:
            folder: Where the model goes.
            overwrite: Replace an earlier mrekit folder there (it stays until the new one
                is complete); without it an existing folder is refused (``E170``).
        """
        from mrekit.models.serialization import save_model

        return save_model(self._fitted(), self.tokenizer_, folder, overwrite=overwrite)

    def _fitted(self) -> JointModel:
        if self.model_ is None:
            raise RuntimeError("call fit() or MREModel.load() first")
        return self.model_

    def predict(self, texts: Sequence[str], *, batch_size: int = 64, consistency: str = "report") -> list[Example]:
        """Predict each text's label(s) and spans.

        Raises:
            MrekitError: ``E104`` for one ``str`` instead of a list of texts; ``E183`` for
                a ``batch_size`` that is not a positive integer or an unknown ``consistency``.
        """
        texts = check_texts(texts)
        check_batch_size(batch_size)
        check_consistency(consistency)
        return predict_examples(
            self._fitted(),
            self.tokenizer_,
            texts,
            batch_size=batch_size,
            consistency=consistency,
            backend=getattr(self, "backend_", None),
        )

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Text-level probabilities, one row per text, columns in ``labels_`` order."""
        results = self.predict(texts, batch_size=batch_size, consistency="off")
        return np.array([[ex.label_scores.get(label, 0.0) for label in self.labels_] for ex in results])

    @property
    def labels_(self) -> list[str]:
        """The text labels, in column order of :meth:`predict_proba`."""
        return list(self._fitted().config.text_labels)


def _saved_extra(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest facts that the trainer added (kept when model-best is written again)."""
    return {key: manifest[key] for key in ("training",) if key in manifest}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _consistency(examples: Sequence[Example]) -> dict[str, list[str]]:
    seen: dict[str, set[str]] = {}
    for ex in examples:
        if ex.labels and ex.spans is not None:
            for label in ex.labels:
                seen.setdefault(label, set()).update(s.label for s in ex.spans)
    return {label: sorted(spans) for label, spans in seen.items()}


def tune_thresholds(model: MREModel, dev: Sequence[Example]) -> list[float]:
    """Per-label thresholds that maximise each label's F1 on dev (0.5 if the label is absent)."""
    probs = model.predict_proba([ex.text for ex in dev])
    gold = np.array([[label in ex.labels for label in model.labels_] for ex in dev])
    grid = np.linspace(0.05, 0.95, 19)
    thresholds = []
    for j in range(len(model.labels_)):
        if not gold[:, j].any():
            thresholds.append(0.5)
            continue
        pred = probs[:, j][None, :] >= grid[:, None]
        tp = (pred & gold[:, j]).sum(axis=1)
        f1 = 2 * tp / (pred.sum(axis=1) + gold[:, j].sum())
        thresholds.append(float(grid[int(f1.argmax())]))
    return thresholds


def load(folder: str | Path, *, backend: str = "auto", threads: int | None = None) -> Any:
    """Load a model folder: ``nlp = mrekit.load(DIR)``; ``nlp(text)``; ``nlp.pipe(texts)``.

    ``backend`` picks PyTorch or an ONNX export (see :meth:`MREModel.load`). A folder
    whose manifest names the generative engine gives a
    :class:`~mrekit.generative.engine.GenerativeModel` (same ``predict``/``pipe``/``__call__``).
    """
    from mrekit.generative.serialization import is_generative_folder

    if is_generative_folder(folder):
        from mrekit.generative.engine import GenerativeModel

        return GenerativeModel.load(folder, threads=threads)
    return MREModel.load(folder, backend=backend, threads=threads)
