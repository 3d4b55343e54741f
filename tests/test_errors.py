from __future__ import annotations

import pytest

from mrekit.errors import CODES, MrekitError


def test_message_layout():
    err = MrekitError("E120", "3 tokens but 2 tags", path="d/seq.out", line=7, hint="each token needs a tag")
    assert str(err) == "[E120] d/seq.out:7: 3 tokens but 2 tags (each token needs a tag)"


def test_at_fills_only_missing_location():
    err = MrekitError("E110", "bad", field="spans[0]").at("x.jsonl", 4)
    assert str(err) == "[E110] x.jsonl:4 field 'spans[0]': bad"
    assert MrekitError("E110", "bad", path="a", line=1).at("b", 2).location == "a:1"


def test_unknown_code_is_a_programming_error():
    with pytest.raises(ValueError):
        MrekitError("E999", "nope")


def test_codes_are_unique_and_well_formed():
    assert all(len(code) == 4 and code.startswith("E") for code in CODES)
