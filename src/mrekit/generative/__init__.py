"""Generative unified IE (OIELLM / GIELLM formats) with constrained decoding.

One text-to-text model reads ``text/TASK`` and writes ``Label/TASK/:Type;Entity``
(or the GIELLM spelling). :class:`GenerativeModel` fine-tunes any local Hugging
Face seq2seq or causal LM folder, or a small T5 from scratch, on mrekit examples;
its decoding is constrained by a grammar (:mod:`mrekit.generative.grammar`) so
that the output always parses, labels and types come from the training sets and
every entity is a substring of the input.

Modules, one concern each:

* :mod:`~mrekit.generative.tokenizer`: tokenizers trained from texts; standalone segment encoding.
* :mod:`~mrekit.generative.spec`: the output format of a model (format, task word, label and type sets).
* :mod:`~mrekit.generative.conditioning`: gold-conditioned renderings for the MRE study.
* :mod:`~mrekit.generative.codec`: examples to token ids (entities as runs of the input's tokens).
* :mod:`~mrekit.generative.grammar`: the output grammar as a token-level automaton.
* :mod:`~mrekit.generative.constraints`: the ``LogitsProcessor`` that applies it per beam.
* :mod:`~mrekit.generative.modeling`: building, loading and LoRA-wrapping Hugging Face models.
* :mod:`~mrekit.generative.generation`: batched generation.
* :mod:`~mrekit.generative.training`: its arguments and its hooks into :class:`mrekit.trainer.Trainer`.
* :mod:`~mrekit.generative.serialization`: the model folder (manifest, safetensors, tokenizer).
* :mod:`~mrekit.generative.metrics`: format accuracy and hallucination rate.
* :mod:`~mrekit.generative.engine`: :class:`GenerativeModel`, the fit/predict/save/load API.
* :mod:`~mrekit.generative.recipe`: ``mrekit train --engine generative`` configs.

Importing the package registers the engine as ``generative`` (:func:`mrekit.predictor.register`).
"""

from __future__ import annotations

from mrekit.generative.engine import GenerativeArguments, GenerativeModel, ScratchConfig
from mrekit.generative.recipe import train_from_config
from mrekit.predictor import register


def _load(folder, *, backend: str = "auto", device: str = "auto", threads: int | None = None) -> GenerativeModel:
    # ``backend`` is the encoder's choice of ONNX or PyTorch; a generative model runs in PyTorch.
    return GenerativeModel.load(folder, device=device, threads=threads)


ENGINE = register(
    "generative",
    load=_load,
    train_from_config=train_from_config,
    description="text-to-text model (OIELLM / GIELLM strings) with grammar-constrained decoding",
)

__all__ = ["ENGINE", "GenerativeArguments", "GenerativeModel", "ScratchConfig"]
