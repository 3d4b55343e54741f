"""Constrained decoding: a ``transformers`` logits processor that applies the output grammar per beam.

At every step, for every row of the batch (``batch x beams`` rows), the
processor finds the grammar state of the tokens generated so far and sets the
score of every token the grammar does not allow to ``-inf``. It works with
greedy and beam search because it only looks at each row's own prefix: beams
that are reordered or dropped need no bookkeeping.
States are cached by prefix, so each step costs one transition per row.

Example:
    >>> from transformers import LogitsProcessorList  # doctest: +SKIP
    >>> processor = GrammarLogitsProcessor(automata, prompt_length=1, max_new_tokens=64)  # doctest: +SKIP
    >>> model.generate(**batch, logits_processor=LogitsProcessorList([processor]))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

from mrekit.generative.grammar import Automaton, State


class GrammarLogitsProcessor(LogitsProcessor):
    """Masks every token the output grammar forbids, per row and step.

    Args:
        automata: One :class:`~mrekit.generative.grammar.Automaton` per input of the batch, in batch order.
        prompt_length: Ids of each row before the generated part (1 for an encoder-decoder's
            start token; the padded prompt length for a decoder-only model).
        max_new_tokens: The generation budget; near its end only completable tokens are allowed,
            so that an output cut at the budget still parses.

    Example:
        >>> from mrekit.generative.spec import OutputSpec
        >>> from mrekit.generative.grammar import Grammar
        >>> codes = {"A": [3], "/NER/": [4], ":": [5], ";": [6], "t": [7]}
        >>> auto = Grammar(OutputSpec(labels=["A"], types=["t"]), codes.__getitem__, 1).automaton([8], [(0, 1)], "x")
        >>> processor = GrammarLogitsProcessor([auto], prompt_length=1, max_new_tokens=10)
        >>> scores = processor(torch.tensor([[0, 3]]), torch.zeros(1, 10))
        >>> torch.isfinite(scores[0]).nonzero().flatten().tolist()
        [4]
    """

    def __init__(self, automata: Sequence[Automaton], *, prompt_length: int, max_new_tokens: int) -> None:
        self.automata = list(automata)
        self.prompt_length = prompt_length
        self.max_new_tokens = max_new_tokens
        self._states: dict[tuple[int, tuple[int, ...]], State | None] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows = input_ids.shape[0]
        beams = max(1, rows // len(self.automata))
        mask = torch.full_like(scores, float("-inf"))
        for row, prefix in enumerate(input_ids[:, self.prompt_length :].tolist()):
            index = row // beams
            automaton = self.automata[index]
            state = self._state(index, tuple(prefix))
            if state is None:
                mask[row] = 0  # finished: generate pads it, whatever is chosen
                continue
            allowed = automaton.allowed(state, self.max_new_tokens - len(prefix))
            mask[row, list(allowed)] = 0
        return scores + mask

    def _state(self, index: int, prefix: tuple[int, ...]) -> State | None:
        """The grammar state after ``prefix``; ``None`` once the end token was generated."""
        key = (index, prefix)
        if key in self._states:
            return self._states[key]
        automaton = self.automata[index]
        if not prefix:
            state: State | None = automaton.start()
        else:
            before = self._state(index, prefix[:-1])
            last = prefix[-1]
            if before is None or last == automaton.grammar.eos_id:
                state = None
            else:
                state = automaton.advance(before, last)
        self._states[key] = state
        return state
