"""The predictor base class, one manifest reader, and the engine registry behind ``mrekit.load``.

Every engine registers itself here (:func:`register`, in the spirit of GLiNER2's
``AutoExtractor.register``): a model folder's manifest (``mrekit.json``) names its
engine, :func:`load` reads it and hands the folder to that engine's loader, and
``mrekit train --engine NAME`` finds the engine's config trainer the same way. The two
built-in engines are imported by name on first use (``importlib``), so ``mrekit.load``
never imports an engine it does not need, and a third engine is added by calling
:func:`register` without touching :func:`load`.

Both engines (the encoder :class:`~mrekit.encoder.model.MREModel` and the generative
:class:`~mrekit.generative.GenerativeModel`) inherit this, so ``nlp(text)`` and
``nlp.pipe(texts)`` behave the same whichever one ``mrekit.load`` returns. The
checks of their arguments live here too: a lone ``str`` where texts are expected
is ``E104`` (it would otherwise be read as one text per character), a batch size
that is not a positive integer or an unknown ``consistency`` is ``E183``.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.integrity import read_json
from mrekit.metrics import evaluate as evaluate_examples
from mrekit.outputs import recover_swap
from mrekit.schema import Example

#: The manifest file of every model folder.
MANIFEST = "mrekit.json"
#: Engines that ship with mrekit, imported by module name when first asked for.
BUILTIN_ENGINES = {"encoder": "mrekit.encoder", "generative": "mrekit.generative", "fewshot": "mrekit.fewshot"}

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


class Predictor:
    """Base class: ``__call__``, ``pipe``, ``evaluate`` and ``info`` built on the subclass's ``predict``.

    Example:
        >>> class Upper(Predictor):
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

    def pipe(self, texts: Iterable[str], *, batch_size: int = 64, **options: Any) -> Iterator[Example]:
        """Stream predictions over an iterable of texts, ``batch_size`` at a time.

        ``options`` go to every ``predict`` call (an engine that takes more keyword
        arguments, as the encoder's ``long_texts`` and ``stride``, lists them in its own ``pipe``).

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
        return self._stream(stream, batch_size, options)

    def _stream(self, texts: Iterator[str], batch_size: int, options: dict[str, Any]) -> Iterator[Example]:
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) == batch_size * BATCHES_PER_CHUNK:
                yield from self.predict(chunk, batch_size=batch_size, **options)
                chunk = []
        if chunk:
            yield from self.predict(chunk, batch_size=batch_size, **options)

    def evaluate(self, examples: Sequence[Example], *, batch_size: int = 64, bootstrap: int = 0) -> dict[str, Any]:
        """Predict the texts of ``examples`` and score against them (:func:`mrekit.metrics.evaluate`).

        Example:
            >>> nlp.evaluate(load_builtin("snips", "test"))["frame_accuracy"]  # doctest: +SKIP
            0.88...
        """
        examples = list(examples)
        predictions = self.predict([ex.text for ex in examples], batch_size=batch_size)
        for gold, prediction in zip(examples, predictions, strict=True):
            prediction.id = gold.id
        return evaluate_examples(examples, predictions, bootstrap=bootstrap)

    def info(self) -> dict[str, Any]:
        """What the model is: its engine, backend, labels and the manifest's provenance.

        ``backend`` is the inference backend in use (``torch``, ``onnx``, ``onnx-int8``),
        ``None`` for an engine that has no choice of backend.

        Example:
            >>> Predictor().info()["backend"] is None
            True
        """
        manifest = getattr(self, "manifest_", None) or {}
        backend = getattr(self, "backend_name_", None) or getattr(getattr(self, "backend_", None), "name", None)
        return {
            "engine": manifest.get("engine", getattr(self, "engine", None)),
            "backend": backend,
            "labels": list(getattr(self, "labels_", []) or []),
            "versions": manifest.get("versions"),
            "created": manifest.get("created"),
            "path": str(getattr(self, "path_", "") or "") or None,
        }


@dataclass(frozen=True)
class Engine:
    """A registered engine: how to load its folders and how to train it from a config.

    Args:
        name: What manifests and ``--engine`` call it.
        load: ``load(folder, **options) -> Predictor``.
        train_from_config: ``train_from_config(config, output, *, resume, overwrite, progress) -> best record``.
        description: One line for ``--help`` and error messages.
    """

    name: str
    load: Callable[..., Predictor]
    train_from_config: Callable[..., dict[str, Any]]
    description: str = ""


#: Registered engines by name.
ENGINES: dict[str, Engine] = {}


def register(
    name: str,
    *,
    load: Callable[..., Predictor],
    train_from_config: Callable[..., dict[str, Any]],
    description: str = "",
) -> Engine:
    """Register an engine (re-registering a name replaces it); returns its entry.

    Example:
        >>> entry = register("upper", load=lambda folder, **kw: None, train_from_config=lambda *a, **k: {})
        >>> get_engine("upper").name
        'upper'
        >>> del ENGINES["upper"]
    """
    ENGINES[name] = Engine(name, load, train_from_config, description)
    return ENGINES[name]


def get_engine(name: Any, *, code: str = "E183", path: str | Path | None = None) -> Engine:
    """The engine registered as ``name`` (built-in engines are imported on first use).

    Raises:
        MrekitError: ``code`` for a name no engine has, listing the registered ones.
    """
    if isinstance(name, str) and name not in ENGINES and name in BUILTIN_ENGINES:
        importlib.import_module(BUILTIN_ENGINES[name])
    if not isinstance(name, str) or name not in ENGINES:
        known = sorted(set(ENGINES) | set(BUILTIN_ENGINES))
        raise MrekitError(
            code, f"unknown engine {name!r}", path=path, field="engine", hint=f"known: {', '.join(known)}"
        )
    return ENGINES[name]


def model_folder(folder: str | Path) -> Path:
    """The model folder itself, also when given a training output folder holding ``model-best``.

    Example:
        >>> model_folder("no/such/run")
        PosixPath('no/such/run')
    """
    path = Path(folder)
    best = path / "model-best"
    if not (path / MANIFEST).exists() and (best / MANIFEST).exists():
        return best
    return path


def read_manifest(folder: str | Path, *, code: str = "E181") -> tuple[Path, dict[str, Any]]:
    """``(model folder, manifest)``: the one reader of ``mrekit.json`` (engines check their own fields).

    Raises:
        MrekitError: ``E100`` for a missing folder; ``code`` for a folder without a
            manifest or with one that is not a JSON object; ``E187`` for a manifest
            that is a special or huge file.

    Example:
        >>> read_manifest("no/such/model")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E100] no/such/model: model folder not found
    """
    path = model_folder(folder)
    recover_swap(path)  # a save killed mid-swap on a system without atomic exchange
    if not path.is_dir():
        raise MrekitError("E100", "model folder not found", path=path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists() and not manifest_path.is_symlink():
        raise MrekitError(
            code, f"no {MANIFEST}: not an mrekit model folder", path=path, hint="train one with mrekit train"
        )
    manifest = read_json(manifest_path, code=code)
    if not isinstance(manifest, dict):
        found = type(manifest).__name__
        raise MrekitError(code, f"{MANIFEST} holds a JSON {found}, not an object", path=manifest_path)
    return path, manifest


def check_format(manifest: dict[str, Any], path: Path, *, format: str, version: int, code: str) -> None:
    """Refuse a manifest of another format or version (the type of a mistyped version is named).

    Example:
        >>> manifest = {"format": "f", "format_version": "2"}
        >>> check_format(manifest, Path("m.json"), format="f", version=2, code="E181")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E181] m.json: model format f v'2' (a str, not a whole number) is not f v2 ...
    """
    found_version = manifest.get("format_version")
    if manifest.get("format") == format and found_version == version and not isinstance(found_version, bool):
        return
    found = f"{manifest.get('format')!s} v{found_version!r}"
    if found_version is not None and (isinstance(found_version, bool) or not isinstance(found_version, int)):
        found += f" (a {type(found_version).__name__}, not a whole number)"
    raise MrekitError(
        code,
        f"model format {found} is not {format} v{version}",
        path=path,
        hint="retrain the model with this mrekit version",
    )


def engine_of(folder: str | Path) -> str:
    """The engine a model folder's manifest names (folders of the first format name none: ``encoder``)."""
    _, manifest = read_manifest(folder)
    return manifest.get("engine", "encoder")


def load(folder: str | Path, **options: Any) -> Predictor:
    """Load any model folder: ``nlp = mrekit.load(DIR)``; ``nlp(text)``; ``nlp.pipe(texts)``.

    The manifest names the engine; ``options`` go to its loader (the encoder takes
    ``backend`` and ``threads``, the generative engine ``device`` and ``threads``).

    Raises:
        MrekitError: ``E181`` for a manifest naming an engine that is not registered.

    Example:
        >>> nlp = load("runs/snips/model-best")  # doctest: +SKIP
        >>> nlp("play the new album by muse").labels  # doctest: +SKIP
        ['PlayMusic']
    """
    path = model_folder(folder)
    return get_engine(engine_of(path), code="E181", path=path / MANIFEST).load(path, **options)


def stream_predictions(
    nlp: Predictor, examples: Iterable[Example], *, batch_size: int = 64, **options: Any
) -> Iterator[Example]:
    """The one streaming path of ``mrekit predict`` and ``mrekit annotate``: examples' texts through
    :meth:`Predictor.pipe` (``batch_size * 8`` texts held at a time), results in order with their ids.

    ``options`` go to every ``predict`` call (``consistency``; an encoder's ``long_texts``, ``stride``).

    Example:
        >>> class Upper(Predictor):
        ...     def predict(self, texts, *, batch_size=64, consistency="report"):
        ...         return [Example(t.upper()) for t in texts]
        >>> [(ex.id, ex.text) for ex in stream_predictions(Upper(), [Example("a", id="7")])]
        [('7', 'A')]
    """
    ids: deque[str | None] = deque()

    def texts() -> Iterator[str]:
        for example in examples:
            ids.append(example.id)  # read in pipe's order, so the deque pairs results with their ids
            yield example.text

    for result in nlp.pipe(texts(), batch_size=batch_size, **options):
        result.id = ids.popleft()
        yield result
