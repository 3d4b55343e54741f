"""Examples to token ids: inputs, training targets and per-input grammar automata.

The input is the text's own tokens followed by the rest of the input string
(``/NER``, the GIELLM candidates, ...) encoded on its own, so the text's tokens
are exactly the tokens the entity constraint may copy.

A target is the concatenation of its segments (see
:meth:`~mrekit.generative.spec.OutputSpec.segments`): fixed strings are
encoded standalone, and an entity is the run of the input's text tokens that
covers its characters. That is what makes training and constrained decoding
agree: a gold entity is always a contiguous run of the source's tokens, never a
differently tokenized copy of its string. When an entity's boundary falls
inside a token (``muse`` in ``muses``) the covering run is wider than the
entity; such entities are counted (:attr:`TargetStats.misaligned`) and logged,
as are entities cut off by ``max_source_length`` (trained as their string).
With :func:`~mrekit.generative.tokenizer.train_tokenizer` this happens only
inside letter or digit runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mrekit.errors import MrekitError, warn
from mrekit.generative.grammar import Automaton, Grammar
from mrekit.generative.spec import EntityRef, OutputSpec
from mrekit.generative.tokenizer import segment_encoder
from mrekit.schema import Example

logger = logging.getLogger(__name__)


@dataclass
class EncodedSource:
    """One model input.

    Args:
        ids: The model's input ids (encoder-decoder: ending with the end token;
            decoder-only: the prompt, ending with the separator).
        text_ids: Ids of the text's tokens, the first ``len(text_ids)`` of ``ids``.
        offsets: Character offsets of those tokens in the text.
        text: The text.
        truncated: Whether text tokens were cut to fit ``max_source_length``.
    """

    ids: list[int]
    text_ids: list[int]
    offsets: list[tuple[int, int]]
    text: str
    truncated: bool = False


@dataclass
class TargetStats:
    """What happened while encoding training targets."""

    entities: int = 0
    misaligned: int = 0
    cut_off: int = 0
    truncated_targets: int = 0


class Codec:
    """Encodes inputs and targets of one model.

    Args:
        tokenizer: The model's fast tokenizer (with end and padding tokens).
        spec: The output format.
        causal: Whether the model is decoder-only (the prompt then ends with ``separator``).
        max_source_length: Most input tokens (text tokens are cut, never the task marker).
        max_target_length: Most target tokens, the end token included.
        separator: What separates a decoder-only model's prompt from its output.

    Example:
        >>> from mrekit.generative.tokenizer import train_tokenizer
        >>> from mrekit import Span
        >>> tok = train_tokenizer(["play muse/NER", "PlayMusic/NER/:artist;muse"], vocab_size=300)
        >>> codec = Codec(tok, OutputSpec(labels=["PlayMusic"], types=["artist"]))
        >>> source = codec.source(Example("play muse"))
        >>> tok.decode(source.ids)
        'play muse/NER</s>'
        >>> target = codec.target(Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]), source)
        >>> tok.decode(target)
        'PlayMusic/NER/:artist;muse</s>'
    """

    def __init__(
        self,
        tokenizer: Any,
        spec: OutputSpec,
        *,
        causal: bool = False,
        max_source_length: int = 128,
        max_target_length: int = 128,
        separator: str = "\n",
    ) -> None:
        self.tokenizer = tokenizer
        self.spec = spec
        self.causal = causal
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.separator = separator
        self.encode_segment = segment_encoder(tokenizer)
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id
        self.stats = TargetStats()

    def grammar(self) -> Grammar:
        """The output grammar, over this tokenizer's segment encodings."""
        return Grammar(self.spec, self.encode_segment, self.eos_id)

    def source(self, example: Example) -> EncodedSource:
        """Encode the input of ``example`` (conditioned models read the given level from it)."""
        source = self.spec.source(example)
        text = example.text
        rest = source[len(text) :] + (self.separator if self.causal else "")
        rest_ids = self.encode_segment(rest)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        text_ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        room = self.max_source_length - len(rest_ids) - (0 if self.causal else 1)
        if room < 1:
            raise MrekitError(
                "E202",
                f"max_source_length {self.max_source_length} leaves no room for the text",
                hint="raise max_source_length",
            )
        truncated = len(text_ids) > room
        if truncated:
            text_ids, offsets = text_ids[:room], offsets[:room]
        tail = [] if self.causal else [self.eos_id]
        return EncodedSource(text_ids + rest_ids + tail, text_ids, offsets, text, truncated)

    def target(self, example: Example, source: EncodedSource) -> list[int]:
        """Encode the output of a training example (ending with the end token unless cut)."""
        ids: list[int] = []
        for segment in self.spec.segments(example):
            if isinstance(segment, str):
                ids += self.encode_segment(segment)
            else:
                ids += self._entity(segment, source)
        ids.append(self.eos_id)
        if len(ids) > self.max_target_length:
            self.stats.truncated_targets += 1
            ids = ids[: self.max_target_length]
        return ids

    def automaton(self, grammar: Grammar, source: EncodedSource) -> Automaton:
        """The grammar automaton of one input."""
        return grammar.automaton(source.text_ids, source.offsets, source.text)

    def _entity(self, ref: EntityRef, source: EncodedSource) -> list[int]:
        self.stats.entities += 1
        covering = [j for j, (s, e) in enumerate(source.offsets) if s < ref.end and e > ref.start]
        surface = source.text[ref.start : ref.end]
        if not covering or source.offsets[covering[-1]][1] < ref.end:
            # Cut off by truncation: the string itself is the best target there is.
            self.stats.cut_off += 1
            return self.encode_segment(surface)
        first, last = covering[0], covering[-1]
        run = source.text[source.offsets[first][0] : source.offsets[last][1]]
        if run.strip() != surface.strip():
            self.stats.misaligned += 1
        return source.text_ids[first : last + 1]

    def report(self) -> None:
        """Log what target encoding had to approximate."""
        stats = self.stats
        if stats.misaligned:
            warn(
                logger,
                "W201",
                f"{stats.misaligned} of {stats.entities} entities do not start and end at token boundaries "
                "(trained as the covering token run)",
            )
        if stats.cut_off:
            warn(
                logger,
                "W202",
                f"{stats.cut_off} of {stats.entities} entities lie beyond max_source_length="
                f"{self.max_source_length} (trained as their string)",
            )
        if stats.truncated_targets:
            warn(
                logger,
                "W203",
                f"{stats.truncated_targets} targets were cut at max_target_length={self.max_target_length}",
            )
