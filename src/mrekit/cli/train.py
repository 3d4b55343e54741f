"""``mrekit train``: fit a model from a config file, flags and dotted overrides.

Flags are named as the settings they set (``--epochs``, ``--batch-size``,
``--learning-rate``, ``--seed``, ``--threads``, ``--device``, ``--keep-checkpoint`` set
``training.*``; ``--lr`` still works). The config's ``engine`` (``--engine``; ``encoder``
by default) picks the registered engine (:mod:`mrekit.predictor`) whose ``train_from_config`` runs it; any setting of
the config can be changed on the command line by its dotted name, as in spaCy
(``--training.epochs 6 --training.learning_rate 2e-4 --encoder-layers 3``).

An output folder that is not empty is refused (``E170``) unless ``--resume``
continues the run in it or ``--overwrite`` starts it again; ``--overwrite``
replaces only what a run writes (``model-best/``, ``checkpoint/``, ``metrics.jsonl``).
Settings are checked before any data is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mrekit.cli._data import training_progress
from mrekit.cli._ui import cli_errors, console
from mrekit.config import apply_overrides, parse_overrides, read_config
from mrekit.errors import MrekitError
from mrekit.predictor import get_engine

#: Short names kept for settings people set often (``--lora`` is ``--training.lora``).
ALIASES = {"lora": "training.lora", "crf": "use_crf", "lr": "training.learning_rate"}


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
    """Train from a config dict ``{"engine", "train", "dev", ..., "training": {...}}``.

    Args:
        config: Data, model settings and the ``training`` table.
        output: The run's folder.
        resume: Continue the interrupted run in ``output`` (it must be the same run: ``E189``).
        overwrite: Start again in an ``output`` that holds a run (only its files are replaced).

    Returns:
        The log record of the best epoch.

    Raises:
        MrekitError: ``E183`` for a config that is not a table or an unknown engine (the
            registered ones are listed), the engine's own codes for its settings.

    Example:
        >>> train({"train": "snips:train", "dev": "snips:dev", "training": {"epochs": 1}}, "runs/x")  # doctest: +SKIP
    """
    if not isinstance(config, dict):
        raise MrekitError("E183", f"a config is a table of settings, not a {type(config).__name__}")
    for key in ("train", "dev"):
        if key in config and not isinstance(config[key], str | dict) and not (key == "dev" and config[key] is None):
            raise MrekitError("E183", f"{key} must be a path or a bundled set such as snips:{key}", field=key)
    engine = get_engine(config.get("engine", "encoder"))
    check_output(output, resume=resume, overwrite=overwrite)
    with training_progress() as progress:
        return engine.train_from_config(config, output, resume=resume, overwrite=overwrite, progress=progress)


def epochs_setting(value: str | None) -> int | str | None:
    """The ``--epochs`` word as a setting: a whole number as an int, anything else as given (checked later).

    Example:
        >>> epochs_setting("6"), epochs_setting("auto"), epochs_setting(None)
        (6, 'auto', None)
    """
    if value is not None and value.strip().isdigit():
        return int(value)
    return value


def settings_from(config: Path | None, flags: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """The effective config: the file, then the common flags, then dotted overrides."""
    settings: dict[str, Any] = read_config(config) if config else {}
    if not isinstance(settings.setdefault("training", {}), dict):
        raise MrekitError("E183", "training settings must be a table", field="training")
    dotted = {ALIASES.get(k, k): v for k, v in flags.items() if v is not None}
    dotted.update({ALIASES.get(k, k): v for k, v in parse_overrides(extra).items()})
    return apply_overrides(settings, dotted)


def command(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Argument(help="JSON or TOML config; flags and overrides change it.")] = None,
    train_data: Annotated[str | None, typer.Option("--train", help="Training data (path or snips:train).")] = None,
    dev_data: Annotated[str | None, typer.Option("--dev", help="Dev data for model selection.")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output folder (model-best/, checkpoint/, metrics.jsonl).")
    ] = Path("runs/model"),
    engine: Annotated[str | None, typer.Option(help="encoder (default) or generative (text-to-text).")] = None,
    mode: Annotated[str | None, typer.Option(help="Encoder: isolated, shared or mre.")] = None,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="minilm (default), multilingual-e5-small, auto (multilingual for non-Latin data) or a local folder."
        ),
    ] = None,
    epochs: Annotated[
        str | None,
        typer.Option(help="Passes over the training data, or auto (default: from the data size, with early stopping)."),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per step.")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate of the encoder.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", hidden=True, help="Old name of --learning-rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    keep_checkpoint: Annotated[
        bool | None,
        typer.Option("--keep-checkpoint", help="Keep OUTPUT/checkpoint/ after the run finished (default: removed)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --output (the same run).")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Start again in an --output that holds a run (replaces model-best/, checkpoint/, metrics.jsonl)."
        ),
    ] = False,
) -> None:
    """Train a model; the best dev epoch is saved to OUTPUT/model-best.

    Any setting of the config can be given as a dotted override after the options,
    e.g. --training.warmup_ratio 0.05, --use-crf, --encoder-layers 3, --max-length 256,
    --conditioned 0.5 (conditioned training), --cascade (predict twice, conditioned on the first);
    for the generative engine --model DIR, --format giellm, --task NER, --lora.

    Examples:
        mrekit train --train snips:train --dev snips:dev -o runs/snips --epochs 6 --learning-rate 2e-4
        mrekit train bench/configs/atis.toml -o runs/atis --training.epochs 10 --use-crf
        mrekit train bench/configs/atis.toml -o runs/atis --resume
        mrekit train --engine generative --train snips:train --dev snips:dev --format oiellm --task NER -o runs/gen
        mrekit train bench/configs/chabsa.toml -o runs/chabsa --encoder multilingual-e5-small --freeze-embeddings
        mrekit train bench/configs/snips.toml -o runs/snips-cond --conditioned 0.5
    """
    flags = {
        "train": train_data,
        "dev": dev_data,
        "engine": engine,
        "mode": mode,
        "encoder": encoder,
        "training.epochs": epochs_setting(epochs),
        "training.batch_size": batch_size,
        "training.learning_rate": learning_rate if learning_rate is not None else lr,
        "training.seed": seed,
        "training.threads": threads,
        "training.device": device,
        "training.keep_checkpoint": keep_checkpoint,
    }
    extra = list(ctx.args)
    if config is not None and str(config).startswith("--"):
        # No config file: click took the first override's name for it.
        config, extra = None, [str(config), *extra]
    settings = cli_errors(settings_from)(config, flags, extra)
    best = cli_errors(train)(settings, output, resume=resume, overwrite=overwrite)
    dev = best.get("dev") or {}
    summary = ", ".join(
        f"{k} {dev[k]:.2%}" for k in ("text_accuracy", "span_f1", "frame_accuracy") if dev.get(k) is not None
    )
    console.print(f"[green]✔[/] best epoch {best.get('epoch')} ({summary}); model saved to {output / 'model-best'}")
