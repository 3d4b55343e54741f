"""``mrekit stats``: counts, distributions and the text/word level co-occurrence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mrekit import datasets, formats
from mrekit.cli._ui import cli_errors, console, progress
from mrekit.outputs import atomic_file, check_output_file
from mrekit.stats import DatasetStats, compute


def stats(data: str | Path, *, from_format: str | None = None) -> DatasetStats:
    """Compute the statistics of a data file or bundled set.

    Example:
        >>> stats("snips:test").n_examples
        700
    """
    path, builtin_format = datasets.resolve(data)
    name = from_format or builtin_format or formats.infer_format(path)
    return compute(progress(formats.read(path, name), f"reading {path.name}"))


def plot_cooccurrence(result: DatasetStats, path: str | Path, *, overwrite: bool = False) -> None:
    """Save a heatmap of P(span label | text label) as a PNG (atomically; missing folders are made)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols, counts = result.table()
    share = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(cols) + 2), max(3, 0.4 * len(rows) + 1.5)))
    image = ax.imshow(share, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    mi = result.mutual_information()
    ax.set_title(f"P(span label | text label)  —  MI {mi['mi']:.2f} bits, NMI {mi['nmi']:.2f}")
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    try:
        with atomic_file(path, overwrite=overwrite, binary=True) as fh:
            fig.savefig(fh, dpi=120, format="png")
    finally:
        plt.close(fig)


def _print(result: DatasetStats, top: int) -> None:
    lengths = result.length_summary()
    overview = Table(title="Data set", show_header=False)
    for key, value in [
        ("examples", result.n_examples),
        ("with text labels", result.n_text_annotated),
        ("with word-level annotation", result.n_word_annotated),
        ("spans", result.n_spans),
        ("text length (chars) min / mean / max", f"{lengths['min']} / {lengths['mean']:.1f} / {lengths['max']}"),
    ]:
        overview.add_row(key, str(value))
    console.print(overview)
    for title, counter in (("Text labels", result.text_labels), ("Span labels", result.span_labels)):
        if counter:
            table = Table("label", "count", "share", title=f"{title} ({len(counter)})")
            total = sum(counter.values())
            for label, count in counter.most_common(top):
                table.add_row(label, str(count), f"{count / total:.1%}")
            console.print(table)
    if result.n_both_annotated:
        mi = result.mutual_information()
        pairs = Table("text label", "span label", "count", "PMI (bits)", title="Text label × span label co-occurrence")
        for pair in result.top_pairs(top):
            pairs.add_row(pair["text_label"], pair["span_label"], str(pair["count"]), f"{pair['pmi']:.2f}")
        console.print(pairs)
        console.print(
            f"Mutual information I(text; span) = [bold]{mi['mi']:.3f}[/] bits "
            f"(H(text) {mi['h_text']:.3f}, H(span) {mi['h_span']:.3f}, NMI {mi['nmi']:.3f}, purity {mi['purity']:.3f})"
        )


def command(
    data: Annotated[str, typer.Argument(help="Data file or folder, or a bundled set such as snips:train.")],
    from_format: Annotated[str | None, typer.Option("--from", help="Input format; inferred if omitted.")] = None,
    top: Annotated[int, typer.Option(help="Rows to show per table.")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Save a co-occurrence heatmap PNG here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --plot file.")] = False,
) -> None:
    """Counts, label distributions, lengths, and the text-label × span-label co-occurrence with its MI.

    Examples:
        mrekit stats snips:train
        mrekit stats data.jsonl --plot plots/cooccurrence.png
    """
    if plot is not None:
        cli_errors(check_output_file)(plot, overwrite=overwrite)
    result = cli_errors(stats)(data, from_format=from_format)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print(result, top)
    if plot is not None:
        cli_errors(plot_cooccurrence)(result, plot, overwrite=overwrite)
        console.print(f"[green]✔[/] saved {plot}")
