"""Finding the train / dev / test parts of a data set for a study."""

from __future__ import annotations

import random
from pathlib import Path

from mrekit import datasets, formats
from mrekit.errors import MrekitError
from mrekit.study.runs import StudyData

PARTS = ("train", "dev", "test")


def carve_dev(train: list, share: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """Split a fixed, seeded ``share`` of ``train`` off as dev (for sets without a dev split).

    Example:
        >>> rest, dev = carve_dev(list(range(10)))
        >>> len(rest), len(dev)
        (9, 1)
    """
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    cut = max(1, round(share * len(order)))
    dev_ids = set(order[:cut])
    return [x for i, x in enumerate(train) if i not in dev_ids], [train[i] for i in sorted(dev_ids)]


def _find_part(folder: Path, part: str) -> Path | None:
    if (folder / part).is_dir():
        return folder / part
    matches = sorted(p for p in folder.glob(f"{part}.*") if p.is_file())
    return matches[0] if matches else None


def load_study_data(spec: str, *, fmt: str | None = None) -> StudyData:
    """A bundled set (``snips``) or a folder holding ``train``/``dev``/``test`` files or folders.

    Without a dev part, a fixed 10 % of train (seed 0) becomes dev; the test
    part is never used for any choice.

    Raises:
        MrekitError: ``E100`` when the folder lacks a train or test part.

    Example:
        >>> data = load_study_data("snips")
        >>> data.name, len(data.train), len(data.dev), len(data.test)
        ('snips', 13084, 700, 700)
    """
    if spec in datasets.BUILTIN:
        return StudyData(spec, *(datasets.load_builtin(spec, part) for part in PARTS))
    folder = Path(spec)
    if not folder.is_dir():
        raise MrekitError("E100", "not a bundled data set nor a folder with train/dev/test", path=folder)
    found = {part: _find_part(folder, part) for part in PARTS}
    for part in ("train", "test"):
        if found[part] is None:
            raise MrekitError("E100", f"no {part} part (a {part}.* file or {part}/ folder)", path=folder)
    read = {p: list(formats.read(path, fmt)) for p, path in found.items() if path is not None}
    if "dev" not in read:
        read["train"], read["dev"] = carve_dev(read["train"])
    return StudyData(folder.name, read["train"], read["dev"], read["test"])
