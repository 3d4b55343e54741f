from __future__ import annotations

import pytest

from mrekit.metrics import summarize


def test_cell_over_present_values_with_sample_sd():
    # values 0.5, 0.7 (None skipped): mean 0.6, sample sd sqrt(((-0.1)^2 + 0.1^2) / 1) = sqrt(0.02)
    cell = summarize([0.5, None, 0.7])
    assert cell["n"] == 2
    assert cell["mean"] == pytest.approx(0.6)
    assert cell["sd"] == pytest.approx(0.02**0.5)


def test_one_value_has_sd_zero_and_none_gives_no_cell():
    assert summarize([0.9]) == {"mean": 0.9, "sd": 0.0, "n": 1}
    assert summarize([None, None]) is None
    assert summarize([]) is None
