"""mrekit: joint text-level and word-level information extraction (Mutual Reinforcement Effect).

The package is layered; each layer imports only from the layers above it (checked by
``tests/test_architecture.py``; the diagram is in ``docs/architecture.md``):

1. core data: :mod:`~mrekit.errors` (coded errors and warnings), :mod:`~mrekit.schema`
   (``Example``, ``Span``, ...), :mod:`~mrekit.files` (reading user files),
   :mod:`~mrekit.outputs` (safe, atomic writes), :mod:`~mrekit.config` (config files,
   dotted overrides);
2. data and scores: :mod:`~mrekit.formats` (readers and writers), :mod:`~mrekit.alignment`
   (characters <-> tokens), :mod:`~mrekit.tags` (all BIO knowledge, constrained Viterbi),
   :mod:`~mrekit.metrics`, :mod:`~mrekit.datasets`, :mod:`~mrekit.stats`;
3. the machine: :mod:`~mrekit.runtime` (devices, seeds, batches, provenance),
   :mod:`~mrekit.integrity` (hashes and checks of model folders);
4. :mod:`~mrekit.predictor`: the predictor base class, the manifest reader, the engine
   registry and :func:`load`;
5. :mod:`~mrekit.trainer`: one ``TrainingArguments`` and one epoch loop for every engine;
6. the engines, which never import each other: :mod:`~mrekit.encoder` and
   :mod:`~mrekit.generative`;
7. applications: :mod:`~mrekit.study`, :mod:`~mrekit.fewshot`, :mod:`~mrekit.server`,
   :mod:`~mrekit.annotate` (``mrekit.annotate(model, inputs, output)``: sharded, resumable corpus annotation);
8. :mod:`~mrekit.cli`.

Example:
    >>> from mrekit import Example, Span
    >>> Example("play muse", labels=["PlayMusic"], spans=[Span(5, 9, "artist")]).surface(Span(5, 9, "artist"))
    'muse'
"""

from __future__ import annotations

import importlib

from mrekit.errors import MrekitError
from mrekit.schema import Event, Example, Relation, Span, validate

__version__ = "0.1.0"

__all__ = [
    "Event",
    "Example",
    "MREModel",
    "MrekitError",
    "Relation",
    "Span",
    "TrainingArguments",
    "annotate",
    "load",
    "validate",
]

#: Public names that pull in torch, and the module that defines each: imported on first use.
#: ``annotate`` is a package that is callable as its ``annotate`` function (so that
#: ``mrekit.annotate(...)`` works whether or not ``mrekit.annotate.*`` was imported first).
_LAZY = {
    "MREModel": "mrekit.encoder",
    "load": "mrekit.predictor",
    "TrainingArguments": "mrekit.trainer",
    "annotate": "mrekit.annotate",
}


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    raise AttributeError(f"module 'mrekit' has no attribute {name!r}")
