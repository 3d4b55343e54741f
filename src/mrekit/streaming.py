"""What every mrekit predictor offers on top of ``predict``: calling it on one text and streaming.

Both engines (the encoder :class:`~mrekit.pipeline.MREModel` and the generative
:class:`~mrekit.generative.GenerativeModel`) inherit this, so ``nlp(text)`` and
``nlp.pipe(texts)`` behave the same whichever one ``mrekit.load`` returns. The
checks of their arguments live here too: a lone ``str`` where texts are expected
is ``E104`` (it would otherwise be read as one text per character), a batch size
that is not a positive integer or an unknown ``consistency`` is ``E183``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from mrekit.errors import MrekitError
from mrekit.schema import Example

#: ``pipe`` hands ``predict`` this many batches at once, so length bucketing has texts to sort.
BATCHES_PER_CHUNK = 8
#: What ``predict(..., consistency=...)`` accepts.
CONSISTENCY = ("report", "enforce", "off")


def check_texts(texts: Any, *, examples: bool = False) -> list[Any]:
    """The texts as a list, refusing one ``str`` (or bytes) and items that are not texts.

    Args:
        texts: A sequence of texts (and of :class:`Example` when ``examples``).
        examples: Accept examples as items too.

    Raises:
        MrekitError: ``E104`` naming the item at fault.

    Example:
        >>> try:
        ...     check_texts("play muse")
        ... except MrekitError as err:
        ...     print(err.code, err.message)
        E104 expected a list of texts, got one str
    """
    if isinstance(texts, (str, bytes)):
        raise MrekitError(
            "E104",
            f"expected a list of texts, got one {type(texts).__name__}",
            field="texts",
            hint='pass ["..."] or call nlp(text)',
        )
    try:
        items = list(texts)
    except TypeError:
        raise MrekitError("E104", f"expected a list of texts, got {type(texts).__name__}", field="texts") from None
    allowed = (str, Example) if examples else (str,)
    for index, item in enumerate(items):
        if not isinstance(item, allowed):
            raise MrekitError("E104", f"expected a text (str), got {type(item).__name__}", field=f"texts[{index}]")
    return items


def check_batch_size(batch_size: Any, *, name: str = "batch_size", optional: bool = False) -> None:
    """Refuse a batch size that is not an integer of at least 1 (``E183``).

    Example:
        >>> check_batch_size(0)
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E183] field 'batch_size': batch_size must be an integer of at least 1, not 0
    """
    if batch_size is None and optional:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MrekitError("E183", f"{name} must be an integer of at least 1, not {batch_size!r}", field=name)


def check_consistency(consistency: Any) -> None:
    """Refuse a ``consistency`` that is not ``report``, ``enforce`` or ``off`` (``E183``)."""
    if consistency not in CONSISTENCY:
        raise MrekitError(
            "E183", f"consistency must be one of {', '.join(CONSISTENCY)}, not {consistency!r}", field="consistency"
        )


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
        if isinstance(text, (list, tuple)):
            raise MrekitError(
                "E104", "nlp(text) takes one text", field="text", hint="use nlp.pipe(texts) or nlp.predict(texts)"
            )
        return self.predict([text])[0]

    def pipe(self, texts: Iterable[str], *, batch_size: int = 64) -> Iterator[Example]:
        """Stream predictions over an iterable of texts, ``batch_size`` at a time.

        Raises:
            MrekitError: ``E104`` for one ``str`` instead of texts, ``E183`` for a
                ``batch_size`` that is not a positive integer (at once, not on the first ``next``).
        """
        if isinstance(texts, (str, bytes)):
            check_texts(texts)
        check_batch_size(batch_size)
        try:
            stream = iter(texts)
        except TypeError:
            raise MrekitError("E104", f"expected texts, got {type(texts).__name__}", field="texts") from None
        return self._stream(stream, batch_size)

    def _stream(self, texts: Iterator[str], batch_size: int) -> Iterator[Example]:
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) == batch_size * BATCHES_PER_CHUNK:
                yield from self.predict(chunk, batch_size=batch_size)
                chunk = []
        if chunk:
            yield from self.predict(chunk, batch_size=batch_size)
