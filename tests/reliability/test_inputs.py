"""Issue 12, inputs: hostile or careless data files give coded errors with file and line.

Items 14 (deeply nested JSON, lone surrogates in files) and 17 (duplicate ids, NaN).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrekit.cli import app
from mrekit.cli.validate import validate
from mrekit.errors import MrekitError
from mrekit.formats import jsonl
from mrekit.schema import Example

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "E106"),
        ('{"text": "a", "meta": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001, "E106"),
        ('{"text": "bad \\ud800 surrogate"}', "E105"),
        ('{"text": "ok", "labels": ["\\udfff"]}', "E105"),
        ('{"text": "x", "spans": [{"start": NaN, "end": 1, "label": "a"}]}', "E108"),
        ('{"text": "x", "meta": {"score": Infinity}}', "E108"),
    ],
)
def test_hostile_jsonl_lines_give_coded_errors_with_the_line(tmp_path, line, code):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(MrekitError) as err:
        list(jsonl.read(path))
    assert (err.value.code, err.value.path, err.value.line) == (code, str(path), 2)
    out = tmp_path / "out.conll"
    result = run("convert", path, out, "--to", "conll")
    assert result.exit_code == 1 and code in result.output and not out.exists()


def test_a_surrogate_pair_is_one_valid_character(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"text": "\\ud83d\\ude00 ok"}\n')
    assert next(jsonl.read(path)).text == "\U0001f600 ok"


def test_validate_reports_duplicate_ids_with_both_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "a", "text": "z"}\n')
    count, problems = validate(path)
    assert count == 3
    assert [(p.code, p.line, p.field) for p in problems] == [("E107", 3, "id")]
    assert "already used at 1" in problems[0].message
    result = run("validate", path)
    assert result.exit_code == 1 and "E107" in result.output


def test_validate_reports_duplicate_ids_in_other_formats(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("# id = a\n# text = x\nx\tO\n\n# id = a\n# text = y\ny\tO\n\n")
    _, problems = validate(path)
    assert [p.code for p in problems] == ["E107"]


def test_nan_is_never_written_back(tmp_path):
    example = Example("hi", labels=["x"], label_scores={"x": float("nan")})
    with pytest.raises(MrekitError) as err:
        jsonl.write([example], tmp_path / "o.jsonl")
    assert err.value.code == "E108"


# Property: whatever a line holds, reading it gives examples or a coded error, never a crash.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
records = st.fixed_dictionaries(
    {"text": st.text()},
    optional={
        "labels": st.lists(st.text(max_size=4), max_size=2) | json_values,
        "spans": st.lists(
            st.fixed_dictionaries(
                {"start": st.integers(-2, 8), "end": st.integers(-2, 8), "label": st.text(max_size=3)}
            ),
            max_size=3,
        )
        | json_values,
        "id": json_values,
        "meta": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(records.map(lambda r: json.dumps(r)), json_values.map(json.dumps), st.text()))
def test_property_any_line_parses_or_gives_a_coded_error(line):
    try:
        example = jsonl.parse_line(line)
    except MrekitError as err:
        assert err.code.startswith("E1")
        return
    back = jsonl.parse_line(jsonl.dumps(example))
    assert back.text == example.text and back.spans == example.spans
