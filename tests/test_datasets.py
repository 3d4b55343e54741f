"""Data arguments: paths, bundled sets and seeded split tables (``mrekit.datasets``, ``cli._data``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrekit import datasets
from mrekit.cli._data import read_examples
from mrekit.config import read_config
from mrekit.datasets import DataSpec, data_spec, read_data, split
from mrekit.errors import MrekitError
from mrekit.formats import bio, semeval
from mrekit.schema import Example

FIXTURES = Path(__file__).parent / "fixtures"
BENCH_CONFIGS = Path(__file__).resolve().parents[1] / "bench" / "configs"


def old_split(examples: list, fractions: tuple[float, ...], seed: int = 0) -> list[list]:
    """What ``split()`` of bench/joint.py gave before it moved to mrekit.datasets, written another way.

    Cut points are the running sums of the rounded shares over one seeded shuffle; the
    last part takes whatever is left.
    """
    shuffled = list(range(len(examples)))
    random.Random(seed).shuffle(shuffled)
    sizes = [round(share * len(shuffled)) for share in fractions[:-1]]
    cuts = [sum(sizes[:k]) for k in range(len(sizes) + 1)] + [len(shuffled)]
    return [[examples[j] for j in shuffled[a:b]] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def write_jsonl(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"ex{i}", "text": f"text number {i}", "labels": ["A" if i % 2 else "B"]}) + "\n")
    return path


# --- split -----------------------------------------------------------------------------


def test_split_exact_parts():
    assert split(list(range(10)), (0.8, 0.1, 0.1)) == [[7, 8, 1, 5, 3, 4, 2, 0], [9], [6]]
    assert split(list("abcde"), (0.6, 0.4), seed=1) == [["c", "d", "e"], ["a", "b"]]
    assert split([], (0.9, 0.1)) == [[], []]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 300),
    st.lists(st.floats(0.01, 1.0), min_size=1, max_size=4),
    st.integers(0, 2**32),
)
def test_split_equals_the_old_bench_implementation(n, weights, seed):
    fractions = tuple(w / sum(weights) for w in weights)
    examples = [f"ex{i}" for i in range(n)]
    parts = split(examples, fractions, seed)
    assert parts == old_split(examples, fractions, seed)
    assert sorted(x for part in parts for x in part) == sorted(examples)  # a partition
    assert len(parts) == len(fractions)


def test_split_of_a_fixture_equals_the_old_one():
    examples = list(bio.read(FIXTURES / "bio_mini"))
    for fractions, seed in (((0.9, 0.1), 0), ((0.8, 0.1, 0.1), 0), ((0.5, 0.5), 7)):
        assert split(examples, fractions, seed) == old_split(examples, fractions, seed)
    assert [len(p) for p in split(examples, (0.8, 0.1, 0.1))] == [10, 1, 1]


def test_split_does_not_change_its_input():
    examples = list(range(20))
    split(examples, (0.5, 0.5), 3)
    assert examples == list(range(20))


# --- data_spec -------------------------------------------------------------------------


def test_data_spec_of_a_string_or_path():
    assert data_spec("snips:train", "train") == DataSpec("snips:train")
    assert data_spec(Path("a/b.jsonl")) == DataSpec("a/b.jsonl")


def test_data_spec_of_a_table():
    value = {"path": "r.xml", "split": [0.9, 0.1], "part": 1, "seed": 3, "format": "semeval-absa"}
    assert data_spec(value, "dev") == DataSpec("r.xml", "semeval-absa", (0.9, 0.1), 1, 3)
    assert data_spec({"path": "r.xml", "split": [0.9, 0.1], "part": 0}).seed == 0
    assert data_spec({"path": "r.xml"}) == DataSpec("r.xml")
    assert data_spec({"path": "r.xml", "split": [1], "part": 0}).split == (1,)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (None, "dev"),
        (3, "dev"),
        (["a.jsonl"], "dev"),
        ("", "dev"),
        ({}, "dev.path"),
        ({"path": 3}, "dev.path"),
        ({"path": ""}, "dev.path"),
        ({"path": "x", "shuffle": True}, "dev.shuffle"),
        ({"path": "x", "format": 1}, "dev.format"),
        ({"path": "x", "format": ""}, "dev.format"),
        ({"path": "x", "part": 1}, "dev.part"),
        ({"path": "x", "seed": 1}, "dev.seed"),
        ({"path": "x", "split": 0.9, "part": 0}, "dev.split"),
        ({"path": "x", "split": [], "part": 0}, "dev.split"),
        ({"path": "x", "split": [0.9, -0.1, 0.2], "part": 0}, "dev.split"),
        ({"path": "x", "split": [0.9, 0.0, 0.1], "part": 0}, "dev.split"),
        ({"path": "x", "split": [True], "part": 0}, "dev.split"),
        ({"path": "x", "split": ["0.9", "0.1"], "part": 0}, "dev.split"),
        ({"path": "x", "split": [0.9, float("nan")], "part": 0}, "dev.split"),
        ({"path": "x", "split": [0.8, 0.1], "part": 0}, "dev.split"),
        ({"path": "x", "split": [0.9, 0.2], "part": 0}, "dev.split"),
        ({"path": "x", "split": [0.9, 0.1]}, "dev.part"),
        ({"path": "x", "split": [0.9, 0.1], "part": 2}, "dev.part"),
        ({"path": "x", "split": [0.9, 0.1], "part": -1}, "dev.part"),
        ({"path": "x", "split": [0.9, 0.1], "part": 1.0}, "dev.part"),
        ({"path": "x", "split": [0.9, 0.1], "part": True}, "dev.part"),
        ({"path": "x", "split": [0.9, 0.1], "part": 1, "seed": "0"}, "dev.seed"),
        ({"path": "x", "split": [0.9, 0.1], "part": 1, "seed": 0.5}, "dev.seed"),
    ],
)
def test_data_spec_bad_values_are_e183_naming_the_field(value, field):
    with pytest.raises(MrekitError) as err:
        data_spec(value, "dev")
    assert (err.value.code, err.value.field) == ("E183", field)


def test_data_spec_select():
    assert DataSpec("x").select((1, 2, 3)) == [1, 2, 3]
    spec = DataSpec("x", split=(0.8, 0.1, 0.1), part=2, seed=0)
    assert spec.select(list(range(10))) == old_split(list(range(10)), (0.8, 0.1, 0.1))[2]


# --- read_examples ---------------------------------------------------------------------


def test_read_examples_of_a_path_and_a_bundled_set_as_before():
    assert [ex.id for ex in read_examples(FIXTURES / "absa_mini.xml")] == ["s1", "s2"]
    assert len(read_examples("snips:dev")) == len(datasets.load_builtin("snips", "dev"))


def test_read_examples_split_parts_equal_the_old_split(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", 57)
    every = read_examples(str(path))
    fractions = (0.8, 0.1, 0.1)
    parts = [
        read_examples({"path": str(path), "split": list(fractions), "part": i, "seed": 0}, field=name)
        for i, name in enumerate(("train", "dev", "test"))
    ]
    assert parts == old_split(every, fractions, 0)
    assert [len(p) for p in parts] == [46, 6, 5]
    assert {ex.id for p in parts for ex in p} == {ex.id for ex in every}
    other_seed = read_examples({"path": str(path), "split": list(fractions), "part": 0, "seed": 1})
    assert other_seed == old_split(every, fractions, 1)[0] != parts[0]


def test_read_examples_split_of_a_semeval_fixture_with_its_format(tmp_path):
    # a copy without the .xml suffix: only the table's format says what it is
    copy = tmp_path / "absa"
    copy.write_bytes((FIXTURES / "absa_mini.xml").read_bytes())
    spec = {"path": str(copy), "format": "semeval-absa", "split": [0.5, 0.5], "part": 1}
    every = list(semeval.read(FIXTURES / "absa_mini.xml"))
    assert read_examples(spec, field="dev") == old_split(every, (0.5, 0.5))[1]
    assert read_examples({"path": str(copy), "format": "semeval-absa"}) == every
    # fmt given to read_examples wins over the table's
    with pytest.raises(MrekitError) as err:
        read_examples({"path": str(copy), "format": "semeval-absa"}, "nope")
    assert err.value.code == "E130"


def test_read_examples_of_a_bundled_set_split():
    parts = [read_examples({"path": "snips:test", "split": [0.9, 0.1], "part": i}) for i in (0, 1)]
    assert [len(p) for p in parts] == [630, 70]
    assert parts == old_split(datasets.load_builtin("snips", "test"), (0.9, 0.1))


def test_read_data_is_read_examples(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", 9)
    spec = {"path": str(path), "split": [0.7, 0.3], "part": 1, "seed": 5}
    assert (
        datasets.read_data(spec, field="dev")
        == read_examples(spec, field="dev")
        == old_split(read_examples(path), (0.7, 0.3), 5)[1]
    )
    with pytest.raises(MrekitError) as err:
        datasets.read_data({"path": str(path), "part": 0}, field="test")
    assert (err.value.code, err.value.field) == ("E183", "test.part")


def test_read_examples_accepts_a_checked_spec(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", 10)
    spec = data_spec({"path": str(path), "split": [0.5, 0.5], "part": 0}, "train")
    assert [ex.id for ex in read_examples(spec)] == [ex.id for ex in old_split(read_examples(path), (0.5, 0.5))[0]]


def test_read_examples_checks_the_table_before_reading(tmp_path):
    with pytest.raises(MrekitError) as err:
        read_examples({"path": str(tmp_path / "missing.jsonl"), "split": [0.9, 0.1]}, field="dev")
    assert (err.value.code, err.value.field) == ("E183", "dev.part")
    with pytest.raises(MrekitError) as err:
        read_examples({"path": str(tmp_path / "missing.jsonl"), "split": [0.9, 0.1], "part": 1}, field="dev")
    assert err.value.code == "E100"


# --- the benchmark's config files (parsed here; their data lies outside the repository) ---------

#: The recipes bench/joint.py held in code before they became config files.
OLD_RECIPES = {
    "snips": {"epochs": 6, "learning_rate": 2e-4, "batch_size": 32},
    "atis": {"epochs": 10, "learning_rate": 2e-4, "batch_size": 32},
    "semeval14_restaurants": {"epochs": 10, "learning_rate": 1e-4, "batch_size": 16},
    "stockmark_ja": {"epochs": 8, "learning_rate": 2e-4, "batch_size": 32},
}
#: Recipes added as config files since (not in bench/joint.py's old code).
NEW_RECIPES = {
    "chabsa": {"epochs": "auto", "learning_rate": 1e-4, "batch_size": 32},
    **{name: {"epochs": "auto", "learning_rate": 2e-4, "batch_size": 16} for name in ("conll04", "ade")},
    "phee": {"selection_metric": "event_argument_f1", "epochs": 12, "learning_rate": 2e-4, "batch_size": 16},
}
#: Word-level-only data sets (no text label): their mode is isolated.
WORD_ONLY = ("stockmark_ja", "conll04", "ade")
RECIPES = {**OLD_RECIPES, **NEW_RECIPES}


def test_every_bench_recipe_has_its_config_file():
    assert sorted(p.stem for p in BENCH_CONFIGS.glob("*.toml")) == sorted(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_bench_config_parses_and_its_data_specs_are_valid(name):
    config = read_config(BENCH_CONFIGS / f"{name}.toml")
    assert set(config) <= {"train", "dev", "test", "mode", "levels", "max_length", "training"}
    assert config["training"] == RECIPES[name]
    assert list(config["training"]) == list(RECIPES[name])  # the order of the run records
    specs = {part: data_spec(config[part], part) for part in ("train", "dev", "test")}
    for spec in specs.values():
        assert spec.path.startswith("../shared/data/")
    if name in WORD_ONLY:
        assert (config["mode"], config["levels"]) == ("isolated", ["word"])
    else:
        assert config["levels"] == ["text", "word"] and config["mode"] in ("isolated", "shared", "mre")


def test_bench_configs_split_as_the_old_load_dataset():
    bio_sets = {name: read_config(BENCH_CONFIGS / f"{name}.toml") for name in ("snips", "atis")}
    for name, config in bio_sets.items():
        assert [config[p] for p in ("train", "dev", "test")] == [
            f"../shared/data/{name}/{p}" for p in ("train", "dev", "test")
        ]
    semeval_config = read_config(BENCH_CONFIGS / "semeval14_restaurants.toml")
    train, dev, test = (data_spec(semeval_config[p], p) for p in ("train", "dev", "test"))
    assert train.path == dev.path == "../shared/data/semeval14/Restaurants_Train_v2.xml"
    assert (train.split, train.part, train.seed, dev.split, dev.part, dev.seed) == ((0.9, 0.1), 0, 0, (0.9, 0.1), 1, 0)
    assert (test.path, test.split) == ("../shared/data/semeval14/Restaurants_Test_Gold.xml", None)
    stockmark_config = read_config(BENCH_CONFIGS / "stockmark_ja.toml")
    parts = [data_spec(stockmark_config[p], p) for p in ("train", "dev", "test")]
    assert {s.path for s in parts} == {"../shared/data/stockmark_ner_ja/ner.json"}
    assert [(s.split, s.part, s.seed) for s in parts] == [((0.8, 0.1, 0.1), i, 0) for i in range(3)]


# --- split by group (by = "document") -------------------------------------------------


def grouped(n_docs: int, sizes: int = 3) -> list[Example]:
    return [
        Example(f"d{d} s{s}", id=f"d{d}-{s}", meta={"document": f"d{d}"}) for d in range(n_docs) for s in range(sizes)
    ]


def test_split_groups_cuts_shares_of_groups_and_keeps_each_group_whole():
    examples = grouped(10)
    parts = datasets.split_groups(examples, (0.8, 0.1, 0.1), seed=0)
    documents = [[ex.meta["document"] for ex in part] for part in parts]
    # the groups are split exactly as split() splits their sorted keys
    keys = split(sorted({ex.meta["document"] for ex in examples}), (0.8, 0.1, 0.1), seed=0)
    assert [list(dict.fromkeys(d)) for d in documents] == keys
    assert [len(p) for p in parts] == [24, 3, 3]
    for part in parts:  # each group whole, in its input order
        for key in set(ex.meta["document"] for ex in part):
            assert [ex.id for ex in part if ex.meta["document"] == key] == [f"{key}-{s}" for s in range(3)]
    assert datasets.split_groups(examples, (0.8, 0.1, 0.1), seed=0) == parts
    assert datasets.split_groups(list(reversed(examples)), (0.8, 0.1, 0.1), seed=0)[0][0].id.endswith("-2")


def test_split_groups_by_another_meta_key_and_a_missing_key():
    examples = [Example(str(i), meta={"fold": i % 3}) for i in range(9)]
    parts = datasets.split_groups(examples, (0.5, 0.5), seed=1, by="fold")
    assert sorted(len(p) for p in parts) == [3, 6]
    assert all(len({ex.meta["fold"] for ex in p}) == len(p) // 3 for p in parts)
    with pytest.raises(MrekitError) as err:
        datasets.split_groups([Example("a")], (0.5, 0.5), field="dev.by")
    assert (err.value.code, err.value.field) == ("E183", "dev.by")


def test_data_spec_by():
    table = {"path": "chabsa", "split": [0.8, 0.1, 0.1], "part": 2, "by": "document"}
    assert data_spec(table, "test") == DataSpec("chabsa", None, (0.8, 0.1, 0.1), 2, 0, "document")
    assert data_spec({"path": "x", "split": [0.5, 0.5], "part": 0}).by is None
    for value in (
        {"path": "x", "by": "document"},
        {"path": "x", "split": [1], "part": 0, "by": ""},
        {"path": "x", "split": [1], "part": 0, "by": 3},
    ):
        with pytest.raises(MrekitError) as err:
            data_spec(value, "dev")
        assert (err.value.code, err.value.field) == ("E183", "dev.by")


def test_data_spec_select_by_group_and_without_by_as_before(tmp_path):
    examples = grouped(6, 2)
    spec = DataSpec("x", split=(0.5, 0.5), part=1, seed=4, by="document")
    assert spec.select(examples) == datasets.split_groups(examples, (0.5, 0.5), 4)[1]
    assert DataSpec("x", split=(0.5, 0.5), part=1, seed=4).select(examples) == old_split(examples, (0.5, 0.5), 4)[1]
    with pytest.raises(MrekitError) as err:
        spec.select([Example("a")], field="train")
    assert (err.value.code, err.value.field) == ("E183", "train.by")
    # read_data names the config key of a table whose data lacks the group key
    path = write_jsonl(tmp_path / "all.jsonl", 4)
    with pytest.raises(MrekitError) as err:
        read_data({"path": str(path), "split": [0.5, 0.5], "part": 0, "by": "document"}, field="dev")
    assert (err.value.code, err.value.field) == ("E183", "dev.by")


def test_bench_chabsa_config_splits_by_document():
    config = read_config(BENCH_CONFIGS / "chabsa.toml")
    parts = [data_spec(config[p], p) for p in ("train", "dev", "test")]
    assert {(s.path, s.format) for s in parts} == {("../shared/data/chabsa", "chabsa")}
    assert [(s.split, s.part, s.seed, s.by) for s in parts] == [((0.8, 0.1, 0.1), i, 0, "document") for i in range(3)]
    assert (config["mode"], config["levels"]) == ("mre", ["text", "word"])
