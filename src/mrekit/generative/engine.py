"""``GenerativeModel``: fit / predict / save / load for the generative engine.

The constructor holds settings only (scikit-learn / SetFit style); :meth:`fit`
builds the tokenizer and model (a small T5 from scratch, or a local pretrained
folder given as ``model``) and trains it; :meth:`predict` generates, parses and
locates, returning schema :class:`~mrekit.schema.Example`\\ s like the encoder
model does, so ``mrekit predict`` and ``mrekit evaluate`` work on either.

Locating entities: an output names entities by their strings, so each string is
searched in the text. The k-th item with a given string maps to the k-th
non-overlapping occurrence of that string, left to right
(:func:`mrekit.formats.items.to_example`); surrounding whitespace of a
generated entity is ignored. Each prediction's ``meta`` records the generated
string (``generated``), whether it parsed (``format_ok``), how many entity
strings it named (``entities``) and which were not in the text (``hallucinated``).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mrekit.errors import MrekitError, describe_text, warn
from mrekit.formats.items import DEFAULT_ATTR_KEYS, EventItem, ParsedOutput, RelationItem, SpanItem, to_example
from mrekit.generative.codec import Codec, EncodedSource
from mrekit.generative.conditioning import merge_with_gold
from mrekit.generative.generation import GenerationSettings, generate_ids
from mrekit.generative.metrics import entity_strings, generation_metrics
from mrekit.generative.modeling import (
    ScratchConfig,
    add_lora,
    architecture_of,
    load_pretrained,
    merged,
    parameter_count,
    scratch_model,
    use_bf16,
)
from mrekit.generative.serialization import load_generative, save_generative
from mrekit.generative.spec import OutputSpec
from mrekit.generative.tokenizer import decode, ensure_special_tokens, train_tokenizer
from mrekit.generative.training import GenerativeArguments, GenerativeHooks
from mrekit.predictor import Predictor, check_batch_size, check_consistency, check_texts, model_folder
from mrekit.runtime import pick_device, seed_everything
from mrekit.schema import Example
from mrekit.trainer import Trainer, refuse_earlier_run

logger = logging.getLogger(__name__)

__all__ = ["GenerativeArguments", "GenerativeModel", "ScratchConfig"]
#: What fit() and load() set, apart from the training arguments.
_FITTED = ("model_", "tokenizer_", "spec_", "architecture_", "codec_", "grammar_", "path_", "manifest_", "scratch_")


class GenerativeModel(Predictor):
    """A text-to-text model that writes both levels in the OIELLM or GIELLM format.

    Args:
        model: A local Hugging Face seq2seq or causal LM folder to fine-tune; ``None``
            trains a small T5 from scratch, with a tokenizer trained on the data.
        format: ``"oiellm"`` (``Label/NER/:Type;Entity``) or ``"giellm"`` (``<Label>NER:Type;Entity``).
        task: The task word (``NER``, ``Sentiment Adj``, ``Relation Extraction``, ...);
            by default from ``kind``.
        kind: ``"spans"``, ``"relations"`` or ``"events"``; by default from ``task``.
        condition: ``"none"`` (joint), ``"word"`` (gold items in the input, labels out) or
            ``"text"`` (gold labels in the input, items out); see :mod:`mrekit.generative.conditioning`.
        scratch: Size of the from-scratch model (:class:`ScratchConfig` or a dict).
        attr_keys: Span attributes written after the surface (``polarity`` for ABSA).
        separator: What ends a causal LM's prompt.

    Example:
        >>> model = GenerativeModel(task="NER")  # doctest: +SKIP
        >>> model.fit(train, dev, args=GenerativeArguments(epochs=10))  # doctest: +SKIP
        >>> model.predict(["play muse"])[0].meta["generated"]  # doctest: +SKIP
        'PlayMusic/NER/:artist;muse'
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        format: str = "oiellm",
        task: str | None = None,
        kind: str | None = None,
        condition: str = "none",
        scratch: ScratchConfig | dict[str, Any] | None = None,
        attr_keys: Sequence[str] = DEFAULT_ATTR_KEYS,
        separator: str = "\n",
    ) -> None:
        self.model = model
        self.format = format
        self.task = task
        self.kind = kind
        self.condition = condition
        self.scratch = scratch
        self.attr_keys = list(attr_keys)
        self.separator = separator
        self.model_: Any = None
        self.tokenizer_: Any = None
        self.spec_: OutputSpec | None = None
        self.architecture_: str | None = None
        self.args_ = GenerativeArguments()
        self.codec_: Codec | None = None
        self.grammar_: Any = None
        self.path_: Path | None = None
        self.manifest_: dict[str, Any] = {}
        self.train_losses_: list[float] = []
        self.scratch_: ScratchConfig | None = None

    # --- training ---------------------------------------------------------------------------------------------

    def fit(
        self,
        train: Sequence[Example],
        dev: Sequence[Example] | None = None,
        *,
        args: GenerativeArguments | None = None,
        output_dir: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        progress: Any = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
    ) -> GenerativeModel:
        """Build the model and train it on ``train``, selecting the epoch on ``dev``.

        Args:
            train: Training examples (rendered in the chosen format; an unannotated
                level is rendered empty).
            dev: Development examples for model selection.
            args: :class:`GenerativeArguments`.
            output_dir: Where ``model-best``, ``checkpoint`` and ``metrics.jsonl`` go (a temporary
                folder when ``None``).
            resume: Continue the interrupted run in ``output_dir`` (the same run: ``E189``).
            overwrite: Start again in an ``output_dir`` that holds an earlier run (``E170`` without it).
            callback: Called with a dict after every optimisation step (step, total, epoch, loss, eta).
            progress: A ``rich.progress.Progress`` to report to.

        Raises:
            MrekitError: ``E204`` for an example the format cannot express, ``E202``/``E203``
                for bad settings or model folders, ``E132`` for LoRA without ``peft``.
        """

        args = args or GenerativeArguments()
        if output_dir and not resume:
            refuse_earlier_run(Path(output_dir), overwrite=overwrite)
        if args.threads:
            torch.set_num_threads(args.threads)
        self.initialize(train, args)
        device = pick_device(args.device)
        out = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="mrekit-generative-"))
        hooks = GenerativeHooks(self, args, use_bf16(args.bf16, device))
        Trainer(hooks, args).train(
            train, dev, out, resume=resume, overwrite=overwrite, progress=progress, on_step=callback
        )
        best = GenerativeModel.load(out / "model-best", device=args.device)
        self._adopt(best)
        self.train_losses_ = hooks.losses
        return self

    def initialize(self, train: Sequence[Example], args: GenerativeArguments | None = None) -> GenerativeModel:
        """Learn the output format of ``train`` and build the tokenizer and the untrained model.

        :meth:`fit` starts with this; on its own it gives an untrained model that
        already decodes (tests of the constraint use it).

        Example:
            >>> model = GenerativeModel(scratch={"d_model": 16, "d_ff": 32, "num_layers": 1, "num_heads": 2})
            >>> model.initialize([Example("play muse", labels=["PlayMusic"], spans=[])]).labels_
            ['PlayMusic']
        """

        args = args or GenerativeArguments()
        seed_everything(args.seed)
        self.spec_ = OutputSpec.from_examples(
            train,
            format=self.format,
            task=self.task,
            kind=self.kind,
            condition=self.condition,
            attr_keys=self.attr_keys,
        )
        self.args_ = args
        self._build(train)
        if args.lora:
            self.model_ = add_lora(self.model_, r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout)
        return self

    def default_learning_rate(self, args: GenerativeArguments) -> float:
        """1e-3 from scratch or with LoRA, 1e-4 for full fine-tuning of a pretrained model."""
        return 1e-3 if self.model is None or args.lora else 1e-4

    def _build(self, train: Sequence[Example]) -> None:

        spec = self.spec_
        assert spec is not None
        if self.model is None:
            scratch = self.scratch
            if not isinstance(scratch, ScratchConfig):
                scratch = ScratchConfig.from_dict(scratch or {})
            self.scratch_ = scratch
            self.tokenizer_ = train_tokenizer(_rendered(spec, train), vocab_size=scratch.vocab_size)
            self.model_ = scratch_model(scratch, self.tokenizer_)
        else:
            self.model_, tokenizer = load_pretrained(self.model)
            self.tokenizer_ = ensure_special_tokens(tokenizer)
            if len(self.tokenizer_) > self.model_.get_input_embeddings().num_embeddings:
                self.model_.resize_token_embeddings(len(self.tokenizer_))
        self.architecture_ = architecture_of(self.model_)
        self._make_codec()

    def _make_codec(self) -> None:
        args = self.args_
        self.codec_ = Codec(
            self.tokenizer_,
            self.spec_,
            causal=self.architecture_ == "causal",
            max_source_length=args.max_source_length,
            max_target_length=args.max_target_length,
            separator=self.separator,
        )
        self.grammar_ = self.codec_.grammar()

    # --- prediction -------------------------------------------------------------------------------------------

    def predict(
        self,
        inputs: Sequence[str | Example],
        *,
        batch_size: int | None = None,
        constrained: bool | None = None,
        num_beams: int | None = None,
        consistency: str = "report",
    ) -> list[Example]:
        """Predict each input's text label(s) and word-level items.

        Args:
            inputs: Texts, or examples (a conditioned model reads the given level from them).
            batch_size: Inputs per generation batch (default: the training setting).
            constrained: Decode with the output grammar (default: the model's setting).
            num_beams: Beam width (default: the model's setting).
            consistency: Accepted for the encoder model's interface; unused here.

        Returns:
            One :class:`Example` per input, with ``meta`` holding the generated string and
            its ``format_ok``, ``entities`` and ``hallucinated``.

        Raises:
            MrekitError: ``E104`` for one ``str`` instead of a list of inputs; ``E183`` for a
                ``batch_size``/``num_beams`` that is not a positive integer or an unknown
                ``consistency``; ``E202`` when a conditioned model is given texts without the gold level.
        """
        inputs = check_texts(inputs, examples=True)
        check_batch_size(batch_size, optional=True)
        check_batch_size(num_beams, name="num_beams", optional=True)
        check_consistency(consistency)
        examples = [x if isinstance(x, Example) else Example(x) for x in inputs]
        self._check_conditioned(examples)
        sources = [self._codec().source(ex) for ex in examples]
        outputs = self.generate_from(sources, batch_size=batch_size, constrained=constrained, num_beams=num_beams)
        return [self._to_example(ex, out, src) for ex, out, src in zip(examples, outputs, sources, strict=True)]

    def generate(self, inputs: Sequence[str | Example], **settings: Any) -> list[str]:
        """The raw generated strings (see :meth:`predict` for the settings)."""
        examples = [x if isinstance(x, Example) else Example(x) for x in check_texts(inputs, examples=True)]
        self._check_conditioned(examples)
        return self.generate_from([self._codec().source(ex) for ex in examples], **settings)

    def generate_from(
        self,
        sources: Sequence[EncodedSource],
        *,
        batch_size: int | None = None,
        constrained: bool | None = None,
        num_beams: int | None = None,
    ) -> list[str]:
        """Generate strings for encoded inputs."""

        args = self.args_
        settings = GenerationSettings(
            constrained=args.constrained if constrained is None else constrained,
            num_beams=num_beams or args.num_beams,
            max_new_tokens=args.max_target_length,
            batch_size=batch_size or args.eval_batch_size,
            bf16=self._bf16(),
        )
        ids = generate_ids(self._fitted(), self._codec(), self.grammar_, list(sources), settings)
        return [decode(self.tokenizer_, row) for row in ids]

    def _to_example(self, given: Example, output: str, source: EncodedSource) -> Example:
        spec = self.spec_
        assert spec is not None
        parsed = _stripped(spec.parse(output))
        strings = entity_strings(parsed)
        example = to_example(given.text, parsed, example_id=given.id)
        if spec.condition != "none":
            merge_with_gold(example, given, spec.condition)
        example.meta.update(
            generated=output,
            format_ok=parsed.ok,
            entities=len(strings),
            hallucinated=[s for s in strings if s not in given.text],
        )
        if source.truncated:
            example.meta["truncated"] = True
            warn(logger, "W105", f"{describe_text(given.text)} truncated to {len(source.text_ids)} tokens")
        return example

    def _check_conditioned(self, examples: Sequence[Example]) -> None:
        condition = self.spec_.condition if self.spec_ else "none"
        if condition == "word" and any(ex.spans is None for ex in examples):
            raise MrekitError("E202", "this model reads gold word-level items: give annotated examples, not texts")
        if condition == "text" and any(not ex.labels for ex in examples):
            raise MrekitError("E202", "this model reads gold text labels: give annotated examples, not texts")

    def generation_metrics(self, predictions: Sequence[Example]) -> dict[str, Any]:
        """Format accuracy and hallucination rate of this model's predictions."""
        return generation_metrics(predictions)

    @property
    def labels_(self) -> list[str]:
        """The text label set."""
        return list(self._spec().labels)

    @property
    def types_(self) -> list[str]:
        """The word-level type set (span or event types, or relation labels)."""
        return list(self._spec().types)

    # --- saving and loading -----------------------------------------------------------------------------------

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder atomically (LoRA adapters merged in); ``overwrite`` replaces an earlier one."""
        return self._save_to(folder, overwrite=overwrite)

    def _save_to(self, folder: str | Path, *, overwrite: bool = False, **extra: Any) -> Path:

        model = merged(self._fitted())
        args = self.args_
        manifest = {
            "architecture": self.architecture_,
            "model_class": type(model).__name__,
            "base_model": str(self.model) if self.model is not None else "scratch",
            "scratch": dataclasses.asdict(self.scratch_) if self.scratch_ is not None else None,
            "parameters": parameter_count(model),
            "output": self._spec().to_dict(),
            "generation": {
                "constrained": args.constrained,
                "num_beams": args.num_beams,
                "max_source_length": args.max_source_length,
                "max_target_length": args.max_target_length,
                "eval_batch_size": args.eval_batch_size,
                "separator": self.separator,
            },
            **extra,
        }
        return save_generative(model, self.tokenizer_, folder, manifest, overwrite=overwrite)

    @classmethod
    def load(cls, folder: str | Path, *, device: str = "auto", threads: int | None = None) -> GenerativeModel:
        """Load a model folder (or a training output folder holding ``model-best``).

        Raises:
            MrekitError: ``E200`` for a missing or foreign manifest, ``E201`` for missing or changed files.
        """

        if threads:
            torch.set_num_threads(threads)
        path = model_folder(folder)
        model, tokenizer, manifest = load_generative(path)
        try:
            spec = OutputSpec.from_dict(manifest["output"])
            generation = dict(manifest["generation"])
            separator = generation.pop("separator", "\n")
            args = GenerativeArguments(device=device, **generation)
        except (TypeError, MrekitError) as err:
            raise MrekitError(
                "E200", f"the manifest's settings are invalid: {err}", path=path / "mrekit.json"
            ) from None
        obj = cls(
            manifest.get("base_model") if manifest.get("base_model") != "scratch" else None,
            format=spec.format,
            task=spec.task,
            kind=spec.kind,
            condition=spec.condition,
            scratch=manifest.get("scratch"),
            attr_keys=spec.attr_keys,
            separator=separator,
        )
        obj.model_ = model.to(pick_device(device))
        obj.tokenizer_ = tokenizer
        obj.spec_, obj.args_, obj.architecture_ = spec, args, manifest["architecture"]
        obj.path_, obj.manifest_ = path, manifest
        if isinstance(manifest.get("scratch"), dict):
            obj.scratch_ = ScratchConfig.from_dict(manifest["scratch"])
        obj._make_codec()
        return obj

    def _adopt(self, other: GenerativeModel) -> None:
        # After fit: serve from the reloaded best epoch (adapters merged), keeping this object's settings.
        for name in _FITTED:
            setattr(self, name, getattr(other, name))
        self.args_ = dataclasses.replace(self.args_, lora=False)

    # --- helpers ----------------------------------------------------------------------------------------------

    def _fitted(self) -> Any:
        if self.model_ is None:
            raise RuntimeError("call fit() or GenerativeModel.load() first")
        return self.model_

    def _spec(self) -> OutputSpec:
        self._fitted()
        assert self.spec_ is not None
        return self.spec_

    def _codec(self) -> Codec:
        self._fitted()
        assert self.codec_ is not None
        return self.codec_

    def _bf16(self) -> bool:

        return use_bf16(self.args_.bf16, next(self._fitted().parameters()).device)


def _rendered(spec: OutputSpec, train: Sequence[Example]) -> list[str]:
    """Inputs and outputs of the training examples (the tokenizer's corpus), naming any that cannot be rendered."""
    corpus: list[str] = []
    for i, example in enumerate(train):
        try:
            corpus += spec.pair(example)
        except MrekitError as err:
            raise MrekitError(
                "E204", f"training example {example.id or i}: {err.message}", field=f"train[{i}]", hint=err.hint
            ) from None
    return corpus


def _stripped(parsed: ParsedOutput) -> ParsedOutput:
    """Entities without surrounding whitespace (tokenizers attach spaces to words); empty ones are errors."""
    items = []
    for item in parsed.items:
        if isinstance(item, SpanItem):
            item = SpanItem(item.type, item.surface.strip(), dict(item.attrs))
        elif isinstance(item, RelationItem):
            item = RelationItem(item.head.strip(), item.label, item.tail.strip())
        elif isinstance(item, EventItem):
            item = EventItem(item.type, item.trigger.strip(), tuple((r, a.strip()) for r, a in item.args))
        if "" in entity_strings(ParsedOutput(items=[item], kind=parsed.kind)):
            parsed.errors.append(f"an entity of {item!r} is only whitespace")
            continue
        items.append(item)
    parsed.items = items
    return parsed
