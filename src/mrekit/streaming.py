"""What every mrekit predictor offers on top of ``predict``: calling it on one text and streaming.

Both engines (the encoder :class:`~mrekit.pipeline.MREModel` and the generative
:class:`~mrekit.generative.GenerativeModel`) inherit this, so ``nlp(text)`` and
``nlp.pipe(texts)`` behave the same whichever one ``mrekit.load`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from mrekit.schema import Example

#: ``pipe`` hands ``predict`` this many batches at once, so length bucketing has texts to sort.
BATCHES_PER_CHUNK = 8


class StreamingPredictor:
    """Mixin: ``__call__`` and ``pipe`` built on the subclass's ``predict(texts, batch_size=...)``.

    Example:
        >>> class Upper(StreamingPredictor):
        ...     def predict(self, texts, *, batch_size=64):
        ...         return [Example(text.upper()) for text in texts]
        >>> [ex.text for ex in Upper().pipe(["a", "b"], batch_size=1)]
        ['A', 'B']
    """

    def predict(self, texts: Sequence[str], *, batch_size: int = 64) -> list[Example]:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, text: str) -> Example:
        return self.predict([text])[0]

    def pipe(self, texts: Iterable[str], *, batch_size: int = 64) -> Iterator[Example]:
        """Stream predictions over an iterable of texts, ``batch_size`` at a time."""
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) == batch_size * BATCHES_PER_CHUNK:
                yield from self.predict(chunk, batch_size=batch_size)
                chunk = []
        if chunk:
            yield from self.predict(chunk, batch_size=batch_size)
