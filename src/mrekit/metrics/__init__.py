"""Metrics for joint text-level and word-level extraction.

Start with :func:`evaluate`, which scores every level the gold annotates and
adds bootstrap confidence intervals. The level functions
(:func:`text_scores`, :func:`span_scores`, :func:`frame_accuracy`,
:func:`structure_scores`, :func:`attribute_scores`) and the significance tests
(:func:`paired_bootstrap`, :func:`mcnemar`) use the same counts.

Conventions shared by every metric:

* precision, recall and F1 are micro averages of per-example counts; a ratio
  with a zero denominator is 0 (seqeval's and scikit-learn's default), so
  no predictions give precision 0, and no gold and no predicted items give
  F1 0;
* a level the gold does not annotate (no text labels, ``spans=None``) is
  skipped per example, and its metrics are ``None`` when no example has it;
* relations are scored as SpERT scores them (strict and boundary, micro and
  macro; entity F1 is ``span_f1``), events as PHEE does (trigger and argument
  identification and classification, main arguments apart), and frame
  accuracy asks for everything the gold annotates at once (labels, spans,
  attributes, relations, events); exact definitions and sources in
  :mod:`mrekit.metrics.structure` and :mod:`mrekit.metrics.joint`.
"""

from __future__ import annotations

from mrekit.metrics._prf import PRF
from mrekit.metrics.attributes import attribute_scores
from mrekit.metrics.bootstrap import PairedBootstrap, bootstrap_ci, bootstrap_distribution, paired_bootstrap
from mrekit.metrics.evaluation import evaluate
from mrekit.metrics.joint import FrameLevels, frame_accuracy, frame_levels, is_frame_correct
from mrekit.metrics.match import match_predictions
from mrekit.metrics.significance import McNemar, example_correctness, mcnemar, mcnemar_exact, mcnemar_test
from mrekit.metrics.spans import span_scores
from mrekit.metrics.structure import structure_scores
from mrekit.metrics.summary import summarize
from mrekit.metrics.table import METRIC_KEYS, CountTable, build_table
from mrekit.metrics.text import text_scores

__all__ = [
    "METRIC_KEYS",
    "PRF",
    "CountTable",
    "FrameLevels",
    "McNemar",
    "PairedBootstrap",
    "attribute_scores",
    "bootstrap_ci",
    "bootstrap_distribution",
    "build_table",
    "evaluate",
    "example_correctness",
    "frame_accuracy",
    "frame_levels",
    "is_frame_correct",
    "match_predictions",
    "mcnemar",
    "mcnemar_exact",
    "mcnemar_test",
    "paired_bootstrap",
    "span_scores",
    "structure_scores",
    "summarize",
    "text_scores",
]
