"""``mrekit train``: fit a joint model from a config file and/or flags.

``--engine generative`` (or ``engine = "generative"`` in the config) trains a
text-to-text model instead (:mod:`mrekit.generative.recipe`).

An output folder that is not empty is refused (``E170``) unless ``--resume``
continues the run in it or ``--overwrite`` starts it again; ``--overwrite``
replaces only what a run writes (``model-best/``, ``checkpoint/``, ``metrics.jsonl``).
Settings are checked before any data is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mrekit.cli._data import read_examples, training_progress
from mrekit.cli._ui import cli_errors, console
from mrekit.errors import MrekitError

#: Model settings a config file may hold beside ``train``, ``dev`` and ``training``.
MODEL_KEYS = ("mode", "encoder", "use_crf", "max_length", "levels", "encoder_layers")


def check_output(output: str | Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to start a run in a folder that holds anything, unless told to resume or overwrite.

    Raises:
        MrekitError: ``E183`` for both ``resume`` and ``overwrite``; ``E173`` when
            ``output`` is a file; ``E170`` for a folder that is not empty.
    """
    if resume and overwrite:
        raise MrekitError(
            "E183",
            "--resume continues the run in --output and --overwrite starts it again: give one",
            field="overwrite",
        )
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise MrekitError("E173", "the output path is a file; a folder is expected here", path=out)
    if resume or overwrite or not out.is_dir() or not any(out.iterdir()):
        return
    raise MrekitError(
        "E170",
        "the output folder already exists and is not empty",
        path=out,
        hint="pass --resume to continue the run in it, or --overwrite to start it again, "
        "which replaces only model-best/, checkpoint/ and metrics.jsonl",
    )


def train(config: dict[str, Any], output: str | Path, *, resume: bool = False, overwrite: bool = False) -> dict:
    """Train from a config dict ``{"train", "dev", "mode", ..., "training": {...}}``.

    Args:
        config: Data, model settings and the ``training`` table.
        output: The run's folder.
        resume: Continue the interrupted run in ``output`` (it must be the same run: ``E189``).
        overwrite: Start again in an ``output`` that holds a run (only its files are replaced).

    Returns:
        The log record of the best epoch.

    Example:
        >>> train({"train": "snips:train", "dev": "snips:dev", "training": {"epochs": 1}}, "runs/x")  # doctest: +SKIP
    """
    from mrekit.pipeline import MREModel
    from mrekit.training import Trainer, TrainingArguments

    if not isinstance(config, dict):
        raise MrekitError("E183", f"a config is a table of settings, not a {type(config).__name__}")
    engine = config.get("engine", "encoder")
    if engine == "generative":
        from mrekit.generative.recipe import train_from_config

        check_output(output, resume=resume, overwrite=overwrite)
        with training_progress() as progress:
            return train_from_config(config, output, resume=resume, progress=progress)
    if engine != "encoder":
        raise MrekitError("E183", f"unknown engine {engine!r}", field="engine", hint="use encoder or generative")
    config = {k: v for k, v in config.items() if k != "engine"}
    if "train" not in config:
        raise MrekitError("E183", "no training data: give --train or 'train' in the config", field="train")
    unknown = sorted(set(config) - {"train", "dev", "training", *MODEL_KEYS})
    if unknown:
        raise MrekitError("E183", f"unknown config key(s): {', '.join(unknown)}")
    for key in ("train", "dev"):
        if key in config and not isinstance(config[key], str) and not (key == "dev" and config[key] is None):
            raise MrekitError("E183", f"{key} must be a path or a bundled set such as snips:{key}", field=key)
    # Every setting is checked before any data is read or any file written.
    args = TrainingArguments.from_dict(config.get("training", {}))
    model = MREModel(**{k: config[k] for k in MODEL_KEYS if k in config})
    check_output(output, resume=resume, overwrite=overwrite)
    train_examples = read_examples(config["train"])
    dev_examples = read_examples(config["dev"]) if config.get("dev") else None
    with training_progress() as progress:
        model.fit(train_examples, dev_examples, args=args, output_dir=output, resume=resume, progress=progress)
    return Trainer._best_from_log(Path(output))


def command(
    config: Annotated[Path | None, typer.Argument(help="JSON or TOML config; flags override it.")] = None,
    train_data: Annotated[str | None, typer.Option("--train", help="Training data (path or snips:train).")] = None,
    dev_data: Annotated[str | None, typer.Option("--dev", help="Dev data for model selection.")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output folder (model-best/, checkpoint/, metrics.jsonl).")
    ] = Path("runs/model"),
    mode: Annotated[str | None, typer.Option(help="isolated, shared or mre.")] = None,
    encoder: Annotated[
        str | None, typer.Option(help="Local Hugging Face encoder folder (default: bundled MiniLM).")
    ] = None,
    crf: Annotated[bool | None, typer.Option("--crf/--no-crf", help="Train a CRF over the BIO tags.")] = None,
    encoder_layers: Annotated[
        int | None,
        typer.Option(help="Keep only the encoder's first N layers: a smaller, faster model (e.g. 3 of MiniLM's 6)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the training data.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Encoder learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --output (the same run).")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Start again in an --output that holds a run (replaces model-best/, checkpoint/, metrics.jsonl)."
        ),
    ] = False,
    engine: Annotated[str | None, typer.Option(help="encoder (default) or generative (text-to-text).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Generative: local seq2seq/causal LM folder (default: a small T5 from scratch).")
    ] = None,
    output_format: Annotated[str | None, typer.Option("--format", help="Generative: oiellm or giellm.")] = None,
    task: Annotated[str | None, typer.Option(help="Generative: task word, e.g. NER or 'Sentiment Adj'.")] = None,
    lora: Annotated[bool | None, typer.Option("--lora/--no-lora", help="Generative: train LoRA adapters.")] = None,
) -> None:
    """Train a joint text + word level model; the best dev epoch is saved to OUTPUT/model-best."""
    from mrekit.training import TrainingArguments, read_config

    settings: dict[str, Any] = cli_errors(read_config)(config) if config else {}
    if not isinstance(settings.setdefault("training", {}), dict):
        cli_errors(TrainingArguments.from_dict)(settings["training"])  # a one-line E183, not a traceback
    for key, value in (
        ("train", train_data),
        ("dev", dev_data),
        ("mode", mode),
        ("encoder", encoder),
        ("use_crf", crf),
        ("encoder_layers", encoder_layers),
        ("engine", engine),
        ("model", model),
        ("format", output_format),
        ("task", task),
    ):
        if value is not None:
            settings[key] = value
    overrides = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": lr,
        "seed": seed,
        "threads": threads,
        "device": device,
        "lora": lora,
    }
    settings["training"].update({k: v for k, v in overrides.items() if v is not None})
    best = cli_errors(train)(settings, output, resume=resume, overwrite=overwrite)
    dev = best.get("dev") or {}
    summary = ", ".join(
        f"{k} {dev[k]:.2%}" for k in ("text_accuracy", "span_f1", "frame_accuracy") if dev.get(k) is not None
    )
    console.print(f"[green]✔[/] best epoch {best.get('epoch')} ({summary}); model saved to {output / 'model-best'}")
