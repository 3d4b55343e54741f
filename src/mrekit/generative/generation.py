"""Batched generation, with or without the grammar constraint.

Inputs are grouped by length; an encoder-decoder's inputs are padded on the
right, a decoder-only model's prompts on the left (so that every row's output
starts at the same position). A fresh ``GenerationConfig`` is used, so settings
shipped with a pretrained checkpoint (forced tokens, repetition penalties) never
interfere with the grammar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mrekit.generative.codec import Codec, EncodedSource
from mrekit.generative.constraints import GrammarLogitsProcessor
from mrekit.generative.grammar import Grammar
from mrekit.generative.modeling import autocast
from mrekit.runtime import bucketed_batches


@dataclass
class GenerationSettings:
    """How to generate.

    Args:
        constrained: Apply the output grammar.
        num_beams: Beam width (1: greedy).
        max_new_tokens: Most generated tokens.
        batch_size: Inputs per ``generate`` call.
        device: Where the model is.
        bf16: Compute in bfloat16 (CUDA only).
    """

    constrained: bool = True
    num_beams: int = 1
    max_new_tokens: int = 128
    batch_size: int = 64
    device: torch.device | None = None
    bf16: bool = False


def generate_ids(
    model: Any, codec: Codec, grammar: Grammar, sources: Sequence[EncodedSource], settings: GenerationSettings
) -> list[list[int]]:
    """Generate an output for every source, in input order; ids end before the end token.

    Example:
        >>> sources = [codec.source(ex) for ex in examples]  # doctest: +SKIP
        >>> ids = generate_ids(model, codec, codec.grammar(), sources, GenerationSettings())  # doctest: +SKIP
    """
    from transformers import GenerationConfig, LogitsProcessorList

    device = settings.device or next(model.parameters()).device
    config = GenerationConfig(
        max_new_tokens=settings.max_new_tokens,
        num_beams=settings.num_beams,
        do_sample=False,
        eos_token_id=codec.eos_id,
        pad_token_id=codec.pad_id,
        decoder_start_token_id=getattr(model.config, "decoder_start_token_id", None),
        early_stopping=True if settings.num_beams > 1 else False,
    )
    results: list[list[int]] = [[] for _ in sources]
    was_training = model.training
    model.eval()
    try:
        for batch in bucketed_batches([len(s.ids) for s in sources], settings.batch_size, seed=None):
            items = [sources[i] for i in batch]
            input_ids, attention = _pad([s.ids for s in items], codec.pad_id, left=codec.causal)
            prompt_length = input_ids.shape[1] if codec.causal else 1
            processors = LogitsProcessorList()
            if settings.constrained:
                automata = [codec.automaton(grammar, s) for s in items]
                processors.append(
                    GrammarLogitsProcessor(
                        automata, prompt_length=prompt_length, max_new_tokens=settings.max_new_tokens
                    )
                )
            with torch.no_grad(), autocast(device, settings.bf16):
                out = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    generation_config=config,
                    logits_processor=processors,
                )
            for index, row in zip(batch, out[:, prompt_length:].tolist(), strict=True):
                results[index] = _until_end(row, codec.eos_id)
    finally:
        model.train(was_training)
    return results


def _pad(rows: list[list[int]], pad_id: int, *, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(row, dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


def _until_end(row: list[int], eos_id: int) -> list[int]:
    return row[: row.index(eos_id)] if eos_id in row else row
