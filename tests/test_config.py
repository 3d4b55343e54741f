"""Config files and dotted overrides: ``mrekit.config``."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrekit.config import apply_overrides, flatten, parse_overrides, read_config
from mrekit.errors import MrekitError

# --- read_config -----------------------------------------------------------------------


def test_read_config_toml_exact_values(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'train = "snips:train"\n'
        'dev = {path = "d.xml", split = [0.9, 0.1], part = 1, seed = 0}\n'
        'levels = ["word"]\n'
        "[training]\nepochs = 6\nlearning_rate = 2e-4\nthreads = 1\n",
        encoding="utf-8",
    )
    assert read_config(path) == {
        "train": "snips:train",
        "dev": {"path": "d.xml", "split": [0.9, 0.1], "part": 1, "seed": 0},
        "levels": ["word"],
        "training": {"epochs": 6, "learning_rate": 0.0002, "threads": 1},
    }


def test_read_config_json_and_any_other_suffix_is_json(tmp_path):
    for name in ("run.json", "run.cfg"):
        path = tmp_path / name
        path.write_text('{"mode": "shared", "training": {"epochs": 2, "device": null}}', encoding="utf-8")
        assert read_config(path) == {"mode": "shared", "training": {"epochs": 2, "device": None}}


def test_read_config_strips_a_byte_order_mark(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b'\xef\xbb\xbf{"mode": "mre"}')
    assert read_config(path) == {"mode": "mre"}


def test_read_config_missing_file_and_folder_are_e100(tmp_path):
    with pytest.raises(MrekitError) as err:
        read_config(tmp_path / "nope.toml")
    assert err.value.code == "E100" and err.value.path == str(tmp_path / "nope.toml")
    with pytest.raises(MrekitError) as err:
        read_config(tmp_path)
    assert err.value.code == "E100"


def test_read_config_malformed_json_is_e103_with_its_line(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{\n  "mode": "mre",\n  "training": {"epochs": }\n}\n', encoding="utf-8")
    with pytest.raises(MrekitError) as err:
        read_config(path)
    assert (err.value.code, err.value.line, err.value.path) == ("E103", 3, str(path))


def test_read_config_malformed_toml_is_e103_with_its_line(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('mode = "mre"\n\n[training]\nepochs = = 6\n', encoding="utf-8")
    with pytest.raises(MrekitError) as err:
        read_config(path)
    assert (err.value.code, err.value.line) == ("E103", 4)


def test_read_config_unterminated_toml_still_has_a_line(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('mode = "mre"\ntrain = "a', encoding="utf-8")
    with pytest.raises(MrekitError) as err:
        read_config(path)
    assert err.value.code == "E103" and err.value.line == 2


@pytest.mark.parametrize("text", ["[1, 2]", '"mre"', "3", "null"])
def test_read_config_top_level_must_be_a_table(tmp_path, text):
    path = tmp_path / "run.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MrekitError) as err:
        read_config(path)
    assert err.value.code == "E183"


def test_read_config_bytes_that_are_not_utf8_are_e102_with_the_line(tmp_path):
    path = tmp_path / "run.toml"
    path.write_bytes(b'mode = "mre"\ntrain = "\xff"\n')
    with pytest.raises(MrekitError) as err:
        read_config(path)
    assert (err.value.code, err.value.line) == ("E102", 2)


def test_read_config_nan_in_json_is_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"training": {"learning_rate": NaN}}', encoding="utf-8")
    with pytest.raises(MrekitError) as err:
        read_config(path)
    assert err.value.code == "E108" and err.value.path == str(path)


# --- parse_overrides -------------------------------------------------------------------


def test_parse_overrides_the_documented_example():
    args = ["--training.epochs", "6", "--training.learning_rate=2e-4", "--mode", "mre", "--use_crf"]
    assert parse_overrides(args) == {
        "training.epochs": 6,
        "training.learning_rate": 0.0002,
        "mode": "mre",
        "use_crf": True,
    }


def test_parse_overrides_values_are_json_literals_where_they_parse():
    parsed = parse_overrides(
        [
            "--a", "16",
            "--b", "-1",
            "--c", "1.5e-3",
            "--d", "false",
            "--e", "null",
            "--f", '["text", "word"]',
            "--g", '"6"',
            "--h", "runs/x",
            "--i", "NaN",
            "--j=",
            "--k", '{"x": 1}',
            "--l=a=b",
        ]
    )  # fmt: skip
    assert parsed == {
        "a": 16,
        "b": -1,
        "c": 0.0015,
        "d": False,
        "e": None,
        "f": ["text", "word"],
        "g": "6",
        "h": "runs/x",
        "i": "NaN",
        "j": "",
        "k": {"x": 1},
        "l": "a=b",
    }
    assert type(parsed["a"]) is int and type(parsed["c"]) is float


def test_parse_overrides_a_flag_before_a_flag_or_at_the_end_is_true():
    assert parse_overrides(["--use-crf", "--training.seed", "3", "--resume"]) == {
        "use_crf": True,
        "training.seed": 3,
        "resume": True,
    }
    assert parse_overrides([]) == {}


def test_parse_overrides_dashes_become_underscores():
    assert parse_overrides(["--training.batch-size", "16", "--max-length=64"]) == {
        "training.batch_size": 16,
        "max_length": 64,
    }


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["training.epochs", "6"], "training.epochs"),
        (["-x", "1"], "-x"),
        (["--mode", "mre", "extra"], "extra"),
        (["--"], "--"),
        (["--=5"], "--=5"),
        (["--training..epochs", "6"], "training..epochs"),
        (["--.epochs", "6"], ".epochs"),
        (["--training.", "6"], "training."),
        (["--2x", "6"], "2x"),
    ],
)
def test_parse_overrides_words_not_of_the_name_form_are_e183(args, field):
    with pytest.raises(MrekitError) as err:
        parse_overrides(args)
    assert err.value.code == "E183" and err.value.field == field


def test_parse_overrides_a_name_twice_is_e183():
    with pytest.raises(MrekitError) as err:
        parse_overrides(["--training.epochs", "6", "--training.epochs=7"])
    assert err.value.code == "E183" and err.value.field == "training.epochs"
    with pytest.raises(MrekitError) as err:
        parse_overrides(["--batch-size", "6", "--batch_size", "7"])
    assert err.value.field == "batch_size"


def test_parse_overrides_a_table_and_a_value_inside_it_is_e183():
    with pytest.raises(MrekitError) as err:
        parse_overrides(["--training.epochs", "6", "--training", "{}"])
    assert err.value.code == "E183" and err.value.field == "training"


# --- apply_overrides and flatten -------------------------------------------------------


def test_apply_overrides_sets_dotted_keys_and_creates_tables():
    config = {"train": "snips:train", "training": {"epochs": 6, "learning_rate": 1e-4}}
    out = apply_overrides(config, {"training.epochs": 10, "mode": "shared", "a.b.c": [1]})
    assert out == {
        "train": "snips:train",
        "training": {"epochs": 10, "learning_rate": 1e-4},
        "mode": "shared",
        "a": {"b": {"c": [1]}},
    }
    assert list(out["training"]) == ["epochs", "learning_rate"]  # a replaced key keeps its place


def test_apply_overrides_a_value_replaces_a_whole_table():
    assert apply_overrides({"dev": {"path": "x", "part": 1}}, {"dev": "snips:dev"}) == {"dev": "snips:dev"}
    assert apply_overrides({"dev": "snips:dev"}, {"dev": {"path": "x"}}) == {"dev": {"path": "x"}}


def test_apply_overrides_never_mutates_and_shares_nothing():
    config = {"levels": ["text", "word"], "training": {"epochs": 6}, "dev": {"split": [0.9, 0.1]}}
    overrides = {"training.epochs": 1, "extra": {"list": [1, 2]}}
    before, before_overrides = copy.deepcopy(config), copy.deepcopy(overrides)
    out = apply_overrides(config, overrides)
    assert config == before and overrides == before_overrides
    out["levels"].append("x")
    out["dev"]["split"][0] = 0.5
    out["extra"]["list"].append(3)
    assert config == before and overrides == before_overrides


def test_apply_overrides_inside_a_value_that_is_not_a_table_is_e183():
    with pytest.raises(MrekitError) as err:
        apply_overrides({"training": 5}, {"training.epochs": 6})
    assert err.value.code == "E183" and err.value.field == "training.epochs"
    assert "'training'" in err.value.message and "int" in err.value.message
    with pytest.raises(MrekitError) as err:
        apply_overrides({"training": {"epochs": 5}}, {"training.epochs.max": 6})
    assert err.value.field == "training.epochs.max" and "'training.epochs'" in err.value.message


@pytest.mark.parametrize("name", ["", "training.", ".epochs", "a..b"])
def test_apply_overrides_malformed_names_are_e183(name):
    with pytest.raises(MrekitError) as err:
        apply_overrides({}, {name: 1})
    assert err.value.code == "E183"


def test_flatten_exact():
    config = {"train": "t", "training": {"epochs": 6, "inner": {"x": None}, "empty": {}}, "levels": ["word"]}
    assert flatten(config) == {
        "train": "t",
        "training.epochs": 6,
        "training.inner.x": None,
        "training.empty": {},
        "levels": ["word"],
    }
    assert flatten({"epochs": 1}, "training") == {"training.epochs": 1}


def test_parse_then_apply_overrides_a_config_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('mode = "mre"\n[training]\nepochs = 6\nbatch_size = 32\n', encoding="utf-8")
    args = ["--mode", "shared", "--training.batch-size", "16", "--training.seed=2"]
    assert apply_overrides(read_config(path), parse_overrides(args)) == {
        "mode": "shared",
        "training": {"epochs": 6, "batch_size": 16, "seed": 2},
    }


# --- properties ------------------------------------------------------------------------

NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.lists(st.integers(0, 9), max_size=3)
)
CONFIGS = st.recursive(
    st.dictionaries(NAMES, LEAVES, max_size=4),
    lambda tables: st.dictionaries(NAMES, LEAVES | tables, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(CONFIGS)
def test_flatten_then_apply_rebuilds_the_config(config):
    assert apply_overrides({}, flatten(config)) == config
    assert apply_overrides(config, flatten(config)) == config


@settings(max_examples=200, deadline=None)
@given(CONFIGS, CONFIGS)
def test_apply_overrides_never_mutates_and_sets_every_value(config, other):
    before = copy.deepcopy(config)
    overrides = flatten(other)
    try:
        out = apply_overrides(config, overrides)
    except MrekitError as err:
        # only where an override reaches inside a value of config that is not a table
        assert err.code == "E183"
        prefixes = {".".join(k.split(".")[:i]) for k in overrides for i in range(1, k.count(".") + 1)}
        assert any(p in flatten(config) and flatten(config)[p] != {} for p in prefixes)
    else:
        flat = flatten(out)
        for key, value in overrides.items():
            if value != {}:
                assert flat[key] == value
    assert config == before


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.lists(NAMES, min_size=1, max_size=3).map(".".join), LEAVES, max_size=5), st.booleans())
def test_parse_overrides_round_trips_json_values(flat, with_equals):
    names = list(flat)
    if any(other.startswith(name + ".") for name in names for other in names):
        return  # a table and a value inside it: refused, tested above
    args: list[str] = []
    for name, value in flat.items():
        text = json.dumps(value)
        args += [f"--{name}={text}"] if with_equals else [f"--{name}", text]
    assert parse_overrides(args) == flat
