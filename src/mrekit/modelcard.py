"""Model cards: the ``README.md`` every saved model folder carries, written from its manifest.

A card says what the model is for and how it was made: the engine, labels and span
types, the training data (hashes and sizes, when the manifest records them), the dev
metrics of the chosen epoch, test metrics with confidence intervals when the caller
has them, the command that made it, library versions, the licences of the encoder and
of the data, and the intended use and limits. The engines write it inside their atomic
save, before hashing the folder, so ``README.md`` is in the manifest's ``files`` like
every other file and an edited card is refused on load like an edited weight file.

The command is what :func:`set_command` was given: the CLI records ``sys.argv`` when
it starts, so a model trained with ``mrekit train`` says so; from Python it is absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The file name of the card inside a model folder.
CARD = "README.md"
#: The licence of the bundled encoder (sentence-transformers/all-MiniLM-L6-v2).
MINILM_LICENCE = "Apache-2.0"
#: What the card says when an encoder folder names no licence.
UNKNOWN_ENCODER_LICENCE = "unknown — check the encoder's licence"
#: What the card says when nobody gave the data's licence.
UNKNOWN_DATA_LICENCE = "unknown — check the licence of the training data"
#: Metrics shown first (when present), in this order.
KEY_METRICS = (
    "frame_accuracy",
    "text_accuracy",
    "text_macro_f1",
    "span_f1",
    "span_attr_f1",
    "label_attr_f1",
    "joint_f1",
    "relation_f1",
)

_COMMAND: list[str] = []
_LICENCE_LINE = re.compile(r"^\s*licen[cs]e\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def set_command(argv: Sequence[str]) -> None:
    """Record the command line that runs (the CLI calls this with ``sys.argv``).

    Example:
        >>> set_command(["mrekit", "train", "cfg.toml"]); current_command()
        'mrekit train cfg.toml'
        >>> set_command([]); current_command() is None
        True
    """
    _COMMAND[:] = [str(arg) for arg in argv]


def current_command() -> str | None:
    """The recorded command line as one string (``None`` outside the CLI)."""
    if not _COMMAND:
        return None
    return " ".join([Path(_COMMAND[0]).name, *_COMMAND[1:]])


def read_licence(folder: str | Path | None) -> str | None:
    """The licence a Hugging Face folder names: ``license:`` in its README front matter, or config.json.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "README.md").write_text("---\\nlicense: mit\\n---\\n# a model\\n")
        >>> read_licence(folder), read_licence(folder / "nowhere")
        ('mit', None)
    """
    if folder is None:
        return None
    path = Path(folder)
    readme = path / "README.md"
    try:
        if readme.is_file():
            text = readme.read_text(encoding="utf-8", errors="replace")[:20_000]
            if text.startswith("---"):
                front = text[3:].split("\n---", 1)[0]
                match = _LICENCE_LINE.search(front)
                if match:
                    return match.group(1).strip("'\"") or None
        config = path / "config.json"
        if config.is_file() and config.stat().st_size < 1_000_000:
            value = json.loads(config.read_text(encoding="utf-8")).get("license")
            if isinstance(value, str) and value.strip():
                return value.strip()
    except (OSError, ValueError, AttributeError):
        return None
    return None


def encoder_licence(folder: str | Path | None, *, bundled: bool = False) -> str:
    """The licence of the encoder a model starts from (``bundled``: the default MiniLM).

    Example:
        >>> encoder_licence(None, bundled=True)
        'Apache-2.0'
        >>> encoder_licence("no/such/encoder")
        "unknown — check the encoder's licence"
    """
    if bundled:
        return MINILM_LICENCE
    if folder is None:
        return UNKNOWN_ENCODER_LICENCE
    # A model loaded from its folder was rebuilt from FOLDER/encoder: keep what its manifest said.
    recorded = _recorded_licence(Path(folder).parent / "mrekit.json")
    return recorded or read_licence(folder) or UNKNOWN_ENCODER_LICENCE


def _recorded_licence(manifest: Path) -> str | None:
    try:
        if not manifest.is_file() or manifest.stat().st_size > 10_000_000:
            return None
        licences = json.loads(manifest.read_text(encoding="utf-8")).get("licences")
    except (OSError, ValueError, AttributeError):
        return None
    value = licences.get("encoder") if isinstance(licences, dict) else None
    return value if isinstance(value, str) and value else None


def card_fields(*, encoder: str, data: str | None = None, command: str | None = None) -> dict[str, Any]:
    """The manifest fields a card needs that the engines add: licences and the command.

    Example:
        >>> card_fields(encoder="Apache-2.0", command="mrekit train c.toml")["licences"]["data"]
        'unknown — check the licence of the training data'
    """
    return {
        "licences": {"encoder": encoder, "data": data or UNKNOWN_DATA_LICENCE},
        "command": command if command is not None else current_command(),
    }


def render_card(
    manifest: Mapping[str, Any],
    *,
    labels: Sequence[str],
    span_types: Sequence[str],
    metrics: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> str:
    """The Markdown text of a model card.

    Args:
        manifest: The model's manifest (without ``files``; the card is hashed with them).
        labels: The text labels.
        span_types: The span types.
        metrics: Test metrics (:func:`mrekit.metrics.evaluate`), with ``ci`` for intervals.
        title: The heading (default: the engine's model).

    Example:
        >>> text = render_card({"engine": "encoder", "versions": {"mrekit": "0.1.0"}},
        ...                    labels=["PlayMusic"], span_types=["artist"])
        >>> text.splitlines()[0], "PlayMusic" in text, "artist" in text
        ('# mrekit encoder model', True, True)
    """
    engine = manifest.get("engine", "encoder")
    parts = [
        f"# {title or f'mrekit {engine} model'}",
        _summary(manifest, labels, span_types),
        _training(manifest),
        _dev(manifest),
        _test(metrics),
        _provenance(manifest),
        _use(manifest),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def _summary(manifest: Mapping[str, Any], labels: Sequence[str], span_types: Sequence[str]) -> str:
    engine = manifest.get("engine", "encoder")
    lines = [
        f"An mrekit `{engine}` model. Load it with `nlp = mrekit.load(PATH)`; `nlp(text)` returns an "
        "`Example` with its labels (and spans). Serve it with `mrekit serve PATH`.",
        "",
        "## Labels",
        "",
        f"* text labels ({len(labels)}): {_names(labels)}",
        f"* span types ({len(span_types)}): {_names(span_types)}",
    ]
    return "\n".join(lines)


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) if names else "none"


def _training(manifest: Mapping[str, Any]) -> str:
    training = manifest.get("training") if isinstance(manifest.get("training"), Mapping) else {}
    lines = ["## Training", ""]
    data = training.get("data") if isinstance(training.get("data"), Mapping) else {}
    for split in ("train", "dev"):
        facts = data.get(split)
        if isinstance(facts, Mapping):
            size = facts.get("examples")
            digest = facts.get("sha256")
            lines.append(f"* {split} data: {size if size is not None else '?'} examples, SHA-256 `{digest}`")
        elif isinstance(facts, str):
            lines.append(f"* {split} data: SHA-256 `{facts}`")
    if not data:
        lines.append("* training data: not recorded in the manifest (hashes and sizes unknown)")
    if training.get("epoch") is not None:
        lines.append(f"* chosen epoch: {training['epoch']}")
    arguments = training.get("arguments")
    if isinstance(arguments, Mapping) and arguments:
        shown = ", ".join(f"{key}={value}" for key, value in sorted(arguments.items()) if value is not None)
        lines.append(f"* training arguments: {shown}")
    if not training:
        lines.append("* not trained by `mrekit train` or `fit()` (no training summary in the manifest)")
    return "\n".join(lines)


def _metric_lines(scores: Mapping[str, Any], intervals: Mapping[str, Any] | None = None) -> list[str]:
    names = [key for key in KEY_METRICS if key in scores]
    names += sorted(key for key, value in scores.items() if key not in names and isinstance(value, float))
    lines = []
    for key in names:
        value = scores[key]
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        interval = (intervals or {}).get(key)
        ci = f" (95% CI {interval[0]:.4f}–{interval[1]:.4f})" if _is_interval(interval) else ""
        lines.append(f"| {key} | {value:.4f}{ci} |")
    return lines


def _is_interval(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value)


def _dev(manifest: Mapping[str, Any]) -> str:
    training = manifest.get("training") if isinstance(manifest.get("training"), Mapping) else {}
    dev = training.get("dev")
    rows = _metric_lines(dev) if isinstance(dev, Mapping) else []
    if not rows:
        return "## Dev metrics\n\nnone recorded (trained without dev data)"
    return "\n".join(["## Dev metrics (model selection)", "", "| metric | value |", "| --- | --- |", *rows])


def _test(metrics: Mapping[str, Any] | None) -> str:
    if not metrics:
        return ""
    intervals = metrics.get("ci") if isinstance(metrics.get("ci"), Mapping) else None
    rows = _metric_lines(metrics, intervals)
    return "\n".join(["## Test metrics", "", "| metric | value |", "| --- | --- |", *rows]) if rows else ""


def _provenance(manifest: Mapping[str, Any]) -> str:
    licences = manifest.get("licences") if isinstance(manifest.get("licences"), Mapping) else {}
    versions = manifest.get("versions") if isinstance(manifest.get("versions"), Mapping) else {}
    command = manifest.get("command")
    lines = [
        "## Provenance",
        "",
        f"* command: `{command}`" if command else "* command: not recorded (saved from Python)",
        f"* created: {manifest.get('created', 'unknown')}",
        "* versions: " + (", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "unknown"),
        f"* encoder licence: {licences.get('encoder', UNKNOWN_ENCODER_LICENCE)}",
        f"* data licence: {licences.get('data', UNKNOWN_DATA_LICENCE)}",
        f"* format: {manifest.get('format', 'unknown')} v{manifest.get('format_version', '?')}",
    ]
    return "\n".join(lines)


def _use(manifest: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            "## Intended use and limits",
            "",
            "* Intended for the domain, language and label set of its training data; labels and span "
            "types outside the lists above are never predicted.",
            "* Check it on your own held-out data before relying on it: dev metrics select the epoch "
            "and overestimate accuracy on new data.",
            "* Not for decisions about people without human review. The model inherits the biases and "
            "errors of its encoder and its data.",
            "* The files are hash-checked on load: editing any file, this card included, makes the "
            "folder refuse to load; re-save it instead.",
        ]
    )
