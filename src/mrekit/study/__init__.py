"""``mrekit study``: does solving both levels together help each level, and by how much?

Six runs per data set and seed, same encoder and budget:

* ``text_only`` / ``word_only``: one level alone (isolated);
* ``shared`` and ``mre``: the joint models;
* ``text_given_gold_words`` / ``words_given_gold_text``: one level with the
  other level's *gold* annotation in its input (the empirical MRE study's
  design), the upper bound of what one level can give the other.

Verdicts compare ``mre`` with the level alone on the same test items.
"""

from __future__ import annotations

from mrekit.study.runs import RUNS, StudyData, run_study
from mrekit.study.verdict import verdicts

__all__ = ["RUNS", "StudyData", "run_study", "verdicts"]
