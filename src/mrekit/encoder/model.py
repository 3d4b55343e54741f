"""The joint encoder model as an estimator: ``MREModel(...).fit(train, dev)``, ``predict``, ``save``, ``load``.

Example:
    >>> nlp = MREModel.load("runs/snips/model-best")  # doctest: +SKIP
    >>> doc = nlp("play the new album by muse")  # doctest: +SKIP
    >>> doc.labels, [(doc.surface(s), s.label) for s in doc.spans]  # doctest: +SKIP
    (['PlayMusic'], [('muse', 'artist')])
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrekit.conditioning import cascade_predict
from mrekit.encoder.attributes import AttributeSpace, attribute_consistency
from mrekit.encoder.backbone import load_encoder
from mrekit.encoder.checks import check_max_length, check_model_settings, encoder_position_limit, position_limit
from mrekit.encoder.conditioned import check_conditioning, crossfit_predictions, with_conditioned_copies
from mrekit.encoder.features import LabelSpace, span_consistency, structure_consistency
from mrekit.encoder.inference import predict_attributes, predict_examples
from mrekit.encoder.joint import JointConfig, JointModel
from mrekit.encoder.onnx import choose_backend, export_onnx
from mrekit.encoder.pairs import PairSpace, with_event_types
from mrekit.encoder.scripts import (
    choose_encoder,
    resolve_split,
    split_cjk_characters,
    warn_unknown_characters,
)
from mrekit.encoder.serialization import is_export, load_model, read_manifest, save_model
from mrekit.encoder.thresholds import tune_thresholds
from mrekit.encoder.training import EncoderHooks
from mrekit.encoder.windows import check_long_texts
from mrekit.errors import MrekitError, warn
from mrekit.metrics.calibration import fit_temperature, softmax_calibration
from mrekit.predictor import Predictor, check_batch_size, check_consistency, check_texts
from mrekit.runtime import seed_everything
from mrekit.schema import Example
from mrekit.trainer import Trainer, TrainingArguments, refuse_earlier_run
from mrekit.trainer.checks import check_training_data

logger = logging.getLogger(__name__)
#: ``freeze_embeddings="auto"`` freezes the word embeddings of vocabularies larger than this.
FREEZE_ABOVE_VOCABULARY = 100_000


class MREModel(Predictor):
    """Joint text + word level extractor with a scikit-learn/SetFit-style API.

    The constructor holds settings only; :meth:`fit` builds and trains the model.

    Args:
        mode: ``mre`` (default), ``shared`` or ``isolated``.
        encoder: ``None``/``"minilm"`` for the bundled MiniLM, a built-in encoder's name
            (``"multilingual-e5-small"``, see ``mrekit encoders list``), ``"auto"`` (the
            multilingual encoder when most training text is in a script MiniLM's vocabulary
            lacks, see :func:`~mrekit.encoder.scripts.choose_encoder`), or a local model folder.
        use_crf: Train a CRF over the BIO tags.
        max_length: Subword tokens per text (at most the encoder's position limit).
        levels: Levels to learn (``["text", "word"]`` by default).
        encoder_layers: Use only the encoder's first N layers: a faster, smaller
            model (``None`` keeps them all).
        freeze_embeddings: Keep the encoder's word-embedding matrix as pretrained: less
            memory, faster steps. ``"auto"`` (default) freezes it for vocabularies of more than
            100,000 pieces (multilingual-e5-small's 250,002 rows are 96M of its 118M
            parameters, and fine-tuning data touches few of them; chosen on dev, see
            bench/results/japanese.md) and trains it otherwise.
        split_cjk: How to pre-split Japanese, Chinese and other scripts without spaces before
            the subword model, so that span boundaries inside a SentencePiece piece become
            token boundaries: ``"runs"`` where the script changes (kanji | kana | katakana),
            ``"chars"`` every character, ``"none"``; ``"auto"`` (default) is ``"runs"`` for
            SentencePiece tokenizers and ``"none"`` for BERT's, which splits ideographs itself
            (see :mod:`mrekit.encoder.scripts`).
        conditioned: Conditioned training: with this probability per example and direction, a
            training copy whose input carries the other level's gold information (text label
            words before the text, ``Type Entity`` pairs after it); test inputs stay plain.
            ``0`` (default) trains on plain texts only. See :mod:`mrekit.encoder.conditioned`.
        condition_content: What the copies carry: ``gold`` (default), or the study's controls
            ``shuffled`` (another text's information) and ``neutral`` (placeholder words).
        cascade: Test-time self-conditioning: predict, write the predictions into the input,
            predict again (two passes, three times the texts); trained on cross-fitted
            predicted information as well as gold. Needs ``conditioned`` > 0.

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
        freeze_embeddings: bool | str = "auto",
        split_cjk: str = "auto",
        conditioned: float = 0.0,
        condition_content: str = "gold",
        cascade: bool = False,
    ) -> None:
        if isinstance(levels, str):
            raise MrekitError("E183", f"levels must be a list such as [{levels!r}], not a str", field="levels")
        self.mode = mode
        self.encoder_layers = encoder_layers
        self.encoder = encoder
        self.use_crf = use_crf
        self.max_length = max_length
        self.levels = list(levels)
        self.freeze_embeddings = freeze_embeddings
        self.split_cjk = split_cjk
        self.conditioned = conditioned
        self.condition_content = condition_content
        self.cascade = cascade
        self.model_: JointModel | None = None
        self.tokenizer_: Any = None
        self.backend_: Any = None
        #: Which backend predictions run on: ``torch``, ``onnx`` or ``onnx-int8`` (``None`` before fit/load).
        self.backend_name_: str | None = None
        self.path_: Path | None = None
        self._check_settings()

    def _check_settings(self) -> None:
        """``E183`` for a model setting of the wrong type or out of range."""
        check_model_settings(self)
        check_conditioning(self.conditioned, self.condition_content, self.cascade)
        JointConfig([], [], mode=self.mode, levels=self.levels, max_length=self.max_length)  # mode and levels
        if self.encoder is not None and str(self.encoder) not in ("minilm", "auto"):  # those are checked in fit
            check_max_length(self.max_length, encoder_position_limit(self.encoder), where=self.encoder)

    def fit(
        self,
        train: Sequence[Example],
        dev: Sequence[Example] | None = None,
        *,
        args: Any = None,
        output_dir: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        progress: Any = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
    ) -> MREModel:
        """Train on ``train``, select on ``dev``; examples may annotate one level only.

        Args:
            train: Training examples.
            dev: Development examples for model selection (and multi-label thresholds).
            args: :class:`mrekit.trainer.TrainingArguments`.
            output_dir: Where checkpoints, the log and ``model-best`` go (a temporary
                folder when ``None``).
            resume: Continue an interrupted run in ``output_dir``.
            overwrite: Start again in an ``output_dir`` that holds an earlier run (``E170``
                without it; only mrekit's files there are replaced).
            progress: A ``rich.progress.Progress`` to report to.
            callback: Called after each optimisation step with an event dict (``step``,
                ``total``, ``epoch``, ``epochs``, ``loss``, ``steps_per_second``, ``eta_seconds``).
                Plain progress lines also go to the ``mrekit.trainer.progress`` logger at
                ``INFO`` (every 30 s and at each tenth of the run), with the run's budget
                and one line per epoch.
        """

        if isinstance(args, Mapping):
            args = TrainingArguments.from_dict(args)
        args = args if args is not None else TrainingArguments()
        if not isinstance(args, TrainingArguments):
            raise MrekitError("E183", f"args must be TrainingArguments, not {type(args).__name__}", field="args")
        self._check_settings()
        if output_dir and not resume:
            refuse_earlier_run(Path(output_dir), overwrite=overwrite)  # before any encoder loads
        train = list(train)
        check_training_data(train, self.levels)
        seed_everything(args.seed)
        encoder_name = choose_encoder(self.encoder, train)
        encoder, tokenizer = load_encoder(encoder_name, num_layers=self.encoder_layers)
        check_max_length(self.max_length, position_limit(encoder.config.to_dict()))
        split = split_cjk_characters(tokenizer, resolve_split(self.split_cjk, tokenizer))
        warn_unknown_characters(train, tokenizer, encoder_name)
        embeddings = encoder.get_input_embeddings().weight
        frozen = self.freeze_embeddings is True or (
            self.freeze_embeddings == "auto" and embeddings.shape[0] > FREEZE_ABOVE_VOCABULARY
        )
        if frozen:
            embeddings.requires_grad_(False)
        train = self._conditioned_training(train, dev, args, progress)
        pairs = PairSpace.from_examples(train)
        train = with_event_types(train)  # a trigger's event type is learnt as its span attribute
        space = LabelSpace.from_examples(train)
        attributes = AttributeSpace.from_examples(train)
        config = JointConfig(
            text_labels=space.text_labels,
            span_labels=space.span_labels,
            mode=self.mode,
            multi_label=space.multi_label,
            use_crf=self.use_crf,
            levels=self.levels,
            max_length=self.max_length,
            consistency=span_consistency(train),
            freeze_embeddings=frozen,
            split_cjk=split,
            span_attrs=attributes.span_attrs,
            label_attrs=attributes.label_attrs,
            attr_consistency=attribute_consistency(train) or None,
            relation_labels=pairs.relation_labels,
            role_labels=pairs.role_labels,
            trigger_labels=pairs.trigger_labels,
            relation_types=pairs.relation_types,
            role_types=pairs.role_types,
            structure_consistency=structure_consistency(train) or None,
            conditioned=float(self.conditioned),
            condition_content=self.condition_content,
            cascade=self.cascade,
        )
        model = JointModel(config, encoder)
        out = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="mrekit-"))
        Trainer(EncoderHooks(model, tokenizer, args), args).train(
            train, dev, out, resume=resume, overwrite=overwrite, progress=progress, on_step=callback
        )
        self.model_, self.tokenizer_, manifest = load_model(out / "model-best")
        self.path_ = out / "model-best"
        self.backend_name_ = "torch"
        # A word-only model of multi-label data has text labels in its space but no text head.
        if config.multi_label and dev and self.model_.has_text:
            self.model_.config.thresholds = tune_thresholds(self, dev)
            # The thresholds are part of the model: model-best must hold them, or predict,
            # serve, evaluate and exports of the folder would decide at 0.5.
            save_model(self.model_, self.tokenizer_, self.path_, extra=_saved_extra(manifest), overwrite=True)
        return self

    def _conditioned_training(
        self, train: list[Example], dev: Sequence[Example] | None, args: TrainingArguments, progress: Any
    ) -> list[Example]:
        """``train`` plus its conditioned copies (cascade: half of them carry cross-fitted predictions)."""
        if not self.conditioned:
            return train
        predictions = None
        if self.cascade:
            predictions = crossfit_predictions(self._plain_model, train, dev, args, progress=progress)
            seed_everything(args.seed)  # the main model starts as it would without the fold models
        return with_conditioned_copies(
            train, float(self.conditioned), self.condition_content, seed=args.seed, predictions=predictions
        )

    def _plain_model(self) -> MREModel:
        """An unfitted model with these settings and no conditioning (cascade's fold models)."""
        return MREModel(
            mode=self.mode,
            encoder=self.encoder,
            use_crf=self.use_crf,
            max_length=self.max_length,
            levels=self.levels,
            encoder_layers=self.encoder_layers,
            freeze_embeddings=self.freeze_embeddings,
            split_cjk=self.split_cjk,
        )

    @classmethod
    def load(cls, folder: str | Path, *, backend: str = "auto", threads: int | None = None) -> MREModel:
        """Load a saved model folder (or a training output folder holding ``model-best``).

        Args:
            folder: The model folder.
            backend: ``torch``, ``onnx``, ``onnx-int8`` or ``auto`` (the fp32 ONNX export
                when present and onnxruntime is installed, else torch; int8 only when asked).
            threads: CPU threads for ONNX Runtime (default: torch's).
        """

        path = Path(folder)
        if (path / "model-best" / "mrekit.json").exists():
            path = path / "model-best"
        model, tokenizer, manifest = load_model(path)
        config = model.config
        obj = cls(
            mode=config.mode,
            use_crf=config.use_crf,
            max_length=config.max_length,
            levels=config.levels,
            freeze_embeddings=config.freeze_embeddings,
            split_cjk=config.split_cjk,
            conditioned=config.conditioned,
            condition_content=config.condition_content,
            cascade=config.cascade,
        )
        obj.model_, obj.tokenizer_, obj.manifest_ = model, tokenizer, manifest
        obj.backend_ = choose_backend(model, path, backend, threads=threads)
        obj.backend_name_ = obj.backend_.name
        obj.path_ = path
        return obj

    def export(self, *, quantize: bool = False) -> list[Path]:
        """Write the ONNX export(s) into the loaded model folder (see :mod:`mrekit.encoder.onnx`)."""

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

        return save_model(self._fitted(), self.tokenizer_, folder, overwrite=overwrite)

    def _fitted(self) -> JointModel:
        if self.model_ is None:
            raise RuntimeError("call fit() or MREModel.load() first")
        return self.model_

    def predict(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        consistency: str = "report",
        long_texts: str = "window",
        stride: int | None = None,
    ) -> list[Example]:
        """Predict each text's label(s) and spans.

        Args:
            texts: Raw texts.
            batch_size: Texts (or windows of long texts) per forward pass.
            consistency: ``report``, ``enforce`` or ``off`` (see :func:`~mrekit.encoder.inference.predict_examples`).
            long_texts: ``window`` (default): a text longer than ``max_length`` subwords is
                predicted in overlapping windows merged into one example with global offsets
                (``meta["windows"]``; rules in :mod:`mrekit.encoder.windows`); ``truncate``:
                it is cut at ``max_length`` (``meta["truncated"]``, warning ``W105``).
            stride: Subwords shared by consecutive windows (default: a quarter of a window).

        Raises:
            MrekitError: ``E104`` for one ``str`` instead of a list of texts; ``E183`` for
                a ``batch_size`` that is not a positive integer, an unknown ``consistency``
                or ``long_texts``, or a ``stride`` that is negative or a whole window.
        """
        texts = check_texts(texts)
        check_batch_size(batch_size)
        check_consistency(consistency)
        check_long_texts(long_texts, stride)

        def run(batch: list[str]) -> list[Example]:
            return predict_examples(
                self._fitted(),
                self.tokenizer_,
                batch,
                batch_size=batch_size,
                consistency=consistency,
                backend=getattr(self, "backend_", None),
                long_texts=long_texts,
                stride=stride,
            )

        return cascade_predict(run, texts) if self._fitted().config.cascade else run(list(texts))

    def pipe(
        self,
        texts: Iterable[str],
        *,
        batch_size: int = 64,
        consistency: str = "report",
        long_texts: str = "window",
        stride: int | None = None,
    ) -> Iterator[Example]:
        """:meth:`Predictor.pipe` with :meth:`predict`'s options, checked at once."""
        check_consistency(consistency)
        check_long_texts(long_texts, stride)
        return super().pipe(texts, batch_size=batch_size, consistency=consistency, long_texts=long_texts, stride=stride)

    def predict_attributes(
        self,
        examples: Sequence[Example],
        *,
        batch_size: int = 64,
        long_texts: str = "window",
        stride: int | None = None,
    ) -> list[Example]:
        """Attributes (e.g. polarity) of the spans and text labels the examples already have.

        For scoring polarity on gold aspect terms and categories, as the ABSA literature
        does; :meth:`predict` gives attributes of the predicted spans and labels.
        ``long_texts`` and ``stride`` as in :meth:`predict` (see
        :func:`~mrekit.encoder.inference.predict_attributes`).

        Example:
            >>> ex = Example("the ramen was cold", spans=[Span(4, 9, "aspect")])  # doctest: +SKIP
            >>> nlp.predict_attributes([ex])[0].spans[0].attrs  # doctest: +SKIP
            {'polarity': 'negative'}
        """
        check_batch_size(batch_size)
        check_long_texts(long_texts, stride)
        if isinstance(examples, (str, Example)):
            raise MrekitError("E104", "predict_attributes takes a list of Examples", field="examples")
        bad = [i for i, ex in enumerate(examples) if not isinstance(ex, Example)]
        if bad:
            raise MrekitError("E104", f"item {bad[0]} is not an Example", field=f"examples[{bad[0]}]")
        return predict_attributes(
            self._fitted(),
            self.tokenizer_,
            list(examples),
            batch_size=batch_size,
            backend=getattr(self, "backend_", None),
            long_texts=long_texts,
            stride=stride,
        )

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Text-level probabilities, one row per text, columns in ``labels_`` order."""
        results = self.predict(texts, batch_size=batch_size, consistency="off")
        return np.array([[ex.label_scores.get(label, 0.0) for label in self.labels_] for ex in results])

    def calibrate(self, dev: Sequence[Example], *, batch_size: int = 64) -> dict[str, Any]:
        """Fit temperature scaling of the text level on ``dev`` (minimum NLL) and keep it in the model.

        Only a single-label (softmax) text head is calibrated: a multi-label model is
        refused, as its per-label thresholds were tuned on the uncalibrated sigmoid scores.
        Predicted labels never change, only ``label_scores``. :meth:`save_calibration` stores it.

        Returns:
            ``temperature``, ``n`` (dev examples used) and dev ``nll`` / ``ece`` ``before`` and ``after``.

        Raises:
            MrekitError: ``E176`` for a multi-label model or one without a text head;
                ``E177`` when no dev example has a text label the model knows.

        Example:
            >>> nlp.calibrate(read_data("snips:dev"))["temperature"]  # doctest: +SKIP
            1.37...
        """
        config = self._fitted().config
        if config.multi_label or not self._fitted().has_text:
            what = "a multi-label (sigmoid) text head" if config.multi_label else "no text head"
            raise MrekitError("E176", f"temperature scaling needs a single-label text head; this model has {what}")
        labelled = [ex for ex in dev if ex.labels]
        used = [ex for ex in labelled if len(ex.labels) == 1 and ex.labels[0] in self.labels_]
        if len(used) < len(labelled):
            warn(logger, "W103", f"calibration skipped {len(labelled) - len(used)} dev examples with unknown labels")
        if not used:
            raise MrekitError("E177", "no dev example has a text label of the model", field="dev")
        previous, config.temperature = config.temperature, 1.0
        try:
            probs = self.predict_proba([ex.text for ex in used], batch_size=batch_size)
        finally:
            config.temperature = previous
        gold = [self.labels_.index(ex.labels[0]) for ex in used]
        config.temperature = fit_temperature(probs, gold)
        self.calibration_ = {
            "temperature": config.temperature,
            "n": len(used),
            "before": softmax_calibration(probs, gold, 1.0),
            "after": softmax_calibration(probs, gold, config.temperature),
        }
        return self.calibration_

    def save_calibration(self) -> Path:
        """Write the loaded model folder again with its temperature (hashes stay valid).

        ONNX exports are not kept (``W150``: export again); the training facts of the
        manifest are, and ``calibration`` records the fit.
        """
        if getattr(self, "path_", None) is None:
            raise RuntimeError("MREModel.load() the model before saving its calibration")
        exports = sorted(p.name for p in self.path_.iterdir() if is_export(p.name))
        extra = {**_saved_extra(getattr(self, "manifest_", None) or {}), "calibration": self.calibration_}
        save_model(self._fitted(), self.tokenizer_, self.path_, extra=extra, overwrite=True)
        if exports:
            warn(logger, "W150", f"{', '.join(exports)} removed: run mrekit export {self.path_} again")
        self.manifest_ = read_manifest(self.path_)
        return self.path_

    @property
    def attributes_(self) -> dict[str, dict[str, list[str]]]:
        """The attributes the model learnt: ``{"spans": {name: values}, "labels": {name: values}}``."""
        config = self._fitted().config
        return {"spans": dict(config.span_attrs), "labels": dict(config.label_attrs)}

    def info(self) -> dict[str, Any]:
        """:meth:`Predictor.info` plus the span types and the learnt attributes (``/v1/model`` shows them)."""
        out = super().info()
        if self.model_ is not None:
            out["span_labels"] = list(self.model_.config.span_labels)
            out["attributes"] = self.attributes_
        return out

    @property
    def labels_(self) -> list[str]:
        """The text labels, in column order of :meth:`predict_proba`."""
        return list(self._fitted().config.text_labels)


def _saved_extra(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest facts that the trainer added (kept when model-best is written again)."""
    return {key: manifest[key] for key in ("training",) if key in manifest}
