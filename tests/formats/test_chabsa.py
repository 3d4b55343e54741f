"""chABSA reader (``mrekit.formats.chabsa``) on hand-made documents of our own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mrekit import MrekitError, Span, formats
from mrekit.datasets import DataSpec, read_data, split_groups
from mrekit.formats import chabsa

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MINI = FIXTURES / "chabsa_mini"


def document(tmp_path: Path, sentences: list[dict], name: str = "e99999_ann.json", **header: object) -> Path:
    path = tmp_path / name
    head = {"document_id": "E99999", "category17": "機械", "category33": "機械", **header}
    path.write_text(json.dumps({"header": head, "sentences": sentences}, ensure_ascii=False), encoding="utf-8")
    return path


def opinion(target: str, start: int, end: int, category: str = "company#sales", polarity: str = "positive") -> dict:
    return {"target": target, "category": category, "polarity": polarity, "from": start, "to": end}


def read_error(path: Path, **options: object) -> MrekitError:
    with pytest.raises(MrekitError) as err:
        list(chabsa.read(path, **options))
    return err.value


# --- reading ---------------------------------------------------------------------------


def test_folder_reads_every_document_in_sorted_order():
    examples = list(chabsa.read(MINI))
    assert [ex.id for ex in examples] == [
        "E90001-0",
        "E90001-1",
        "E90001-2",
        "E90002-0",
        "E90002-1",
        "E90003-0",
        "E90003-1",
    ]
    assert [ex.labels for ex in examples] == [["食品"]] * 3 + [["機械"]] * 2 + [["小売"]] * 2
    assert {ex.meta["document"] for ex in examples} == {"E90001", "E90002", "E90003"}
    assert examples[3].meta == {"lang": "ja", "source": "chabsa", "document": "E90002"}


def test_opinions_are_spans_with_exact_offsets_surfaces_and_polarity():
    first, second, third, *_ = chabsa.read(MINI)
    assert first.text == "当期の売上高は前期比5.2%増加しました。"
    assert first.spans == [Span(3, 6, "company#sales")]
    assert first.text[3:6] == "売上高" and first.spans[0].attrs == {"polarity": "positive"}
    assert [(s.start, s.end, second.surface(s), s.label, s.attrs) for s in second.spans] == [
        (3, 8, "原材料価格", "NULL#price", {"polarity": "negative"}),
        (14, 18, "営業利益", "company#profit", {"polarity": "negative"}),
    ]
    assert third.text == "今後も品質向上に努めてまいります。"
    assert third.spans == [] and third.has_word_level  # annotated: no opinion


def test_one_target_with_two_categories_gives_two_spans_and_neutral_is_kept():
    examples = {ex.id: ex for ex in chabsa.read(MINI)}
    group = examples["E90003-0"]
    assert [(group.surface(s), s.label, s.attrs["polarity"]) for s in group.spans] == [
        ("当社グループ", "company#sales", "positive"),
        ("当社グループ", "company#profit", "positive"),
    ]
    neutral = examples["E90002-1"]
    assert [(neutral.surface(s), s.label, s.attrs) for s in neutral.spans] == [
        ("産業機械事業", "business#amount", {"polarity": "neutral"})
    ]


def test_one_file_reads_that_document():
    examples = list(chabsa.read(MINI / "e90002_ann.json"))
    assert [ex.id for ex in examples] == ["E90002-0", "E90002-1"]
    assert (
        examples[0].spans == [Span(3, 7, "market#general")] and examples[0].surface(examples[0].spans[0]) == "設備投資"
    )


def test_the_format_is_registered_and_inferred(tmp_path):
    assert formats.infer_format(MINI) == "chabsa"
    assert formats.infer_format(MINI / "e90001_ann.json") == "chabsa"
    assert list(formats.read(MINI)) == list(chabsa.read(MINI))
    assert not formats.writable("chabsa")
    # a JSON object without header and sentences is still left to the stockmark reader
    other = tmp_path / "other.json"
    other.write_text('{"text": "a"}')
    assert formats.infer_format(other) == "stockmark"
    broken = tmp_path / "broken.json"
    broken.write_text('{"header": {}, "sentences": [')
    assert formats.infer_format(broken) == "stockmark"  # malformed: the reader says where
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(MrekitError) as err:
        formats.infer_format(tmp_path / "empty_dir")
    assert err.value.code == "E131"


# --- misplaced targets -----------------------------------------------------------------


def test_a_target_near_its_offsets_is_moved_onto_it(tmp_path):
    text = "当期の売上高は増加しました。"
    path = document(tmp_path, [{"sentence_id": 0, "sentence": text, "opinions": [opinion("売上高", 4, 7)]}])
    (ex,) = chabsa.read(path)
    assert ex.spans == [Span(3, 6, "company#sales")] and ex.surface(ex.spans[0]) == "売上高"
    err = read_error(path, fix_offsets=False)
    assert (err.code, err.path, err.field) == ("E112", str(path), "sentences[0].opinions[0]")


def test_an_ambiguous_or_absent_target_is_e112_naming_the_file_and_opinion(tmp_path):
    twice = "売上高と売上高。"
    path = document(tmp_path, [{"sentence_id": 0, "sentence": twice, "opinions": [opinion("売上高", 1, 4)]}])
    err = read_error(path)
    assert (err.code, err.path, err.field) == ("E112", str(path), "sentences[0].opinions[0]")
    assert "occurs 2 times" in err.message
    absent = "当期の利益は増加しました。"
    path = document(tmp_path, [{"sentence_id": 0, "sentence": absent, "opinions": [opinion("売上高", 3, 6)]}])
    err = read_error(path)
    assert (err.code, err.field) == ("E112", "sentences[0].opinions[0]") and "does not occur" in err.message
    far = "売上高" + "、" * 20 + "利益。"
    path = document(tmp_path, [{"sentence_id": 0, "sentence": far, "opinions": [opinion("利益", 0, 2)]}])
    assert read_error(path).code == "E112"  # too far from its offsets to be the same opinion


# --- errors ----------------------------------------------------------------------------


def test_offsets_outside_the_text_are_the_validate_code(tmp_path):
    path = document(tmp_path, [{"sentence_id": 0, "sentence": "売上高", "opinions": [opinion("売上高", 0, 9)]}])
    err = read_error(path)
    assert (err.code, err.path, err.field) == ("E110", str(path), "sentences[0].opinions[0]")
    assert "E99999-0" in err.message
    path = document(tmp_path, [{"sentence_id": 0, "sentence": "売上高", "opinions": [opinion("", 2, 2)]}])
    assert read_error(path).code == "E111"


def test_bad_json_is_e103_with_the_file_and_line(tmp_path):
    folder = tmp_path / "chabsa"
    shutil.copytree(MINI, folder)
    bad = folder / "e90002_ann.json"
    bad.write_text('{"header": {"document_id": "E90002",\n "category17": }', encoding="utf-8")
    err = read_error(folder)
    assert (err.code, err.path, err.line) == ("E103", str(bad), 2)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("header"), "header"),
        (lambda d: d["header"].pop("document_id"), "header.document_id"),
        (lambda d: d["header"].pop("category17"), "header.category17"),
        (lambda d: d["header"].update(category17=""), "header.category17"),
        (lambda d: d.update(sentences={}), "sentences"),
        (lambda d: d["sentences"][1].pop("sentence"), "sentences[1].sentence"),
        (lambda d: d["sentences"][1].pop("sentence_id"), "sentences[1].sentence_id"),
        (lambda d: d["sentences"][1].pop("opinions"), "sentences[1].opinions"),
        (lambda d: d["sentences"][1]["opinions"][1].pop("category"), "sentences[1].opinions[1].category"),
        (lambda d: d["sentences"][1]["opinions"][1].pop("to"), "sentences[1].opinions[1].to"),
        (lambda d: d["sentences"][1]["opinions"][1].update({"from": "3"}), "sentences[1].opinions[1].from"),
        (lambda d: d["sentences"][1]["opinions"][1].update(polarity="good"), "sentences[1].opinions[1].polarity"),
        (lambda d: d["sentences"][1]["opinions"].append("x"), "sentences[1].opinions[2]"),
    ],
)
def test_a_missing_or_mistyped_field_is_e104_naming_the_file_and_field(tmp_path, change, field):
    data = json.loads((MINI / "e90001_ann.json").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "e90001_ann.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    err = read_error(path)
    assert (err.code, err.path, err.field) == ("E104", str(path), field)


def test_duplicate_ids_missing_and_empty_folders(tmp_path):
    folder = tmp_path / "chabsa"
    shutil.copytree(MINI, folder)
    shutil.copy(folder / "e90001_ann.json", folder / "e90004_ann.json")
    err = read_error(folder)
    assert (err.code, err.path, err.field) == ("E107", str(folder / "e90004_ann.json"), "header.document_id")
    sentence = {"sentence_id": 0, "sentence": "売上高", "opinions": []}
    err = read_error(document(tmp_path, [sentence, sentence]))
    assert (err.code, err.field) == ("E107", "sentences[1].sentence_id")
    assert read_error(tmp_path / "missing").code == "E100"
    (tmp_path / "empty").mkdir()
    assert read_error(tmp_path / "empty").code == "E101"


# --- the split by document -------------------------------------------------------------


def test_split_documents_keeps_each_document_whole_and_is_fixed():
    examples = list(chabsa.read(MINI))
    parts = chabsa.split_documents(examples, (1 / 3, 1 / 3, 1 / 3), seed=0)
    assert [[ex.id for ex in part] for part in parts] == [
        ["E90001-0", "E90001-1", "E90001-2"],
        ["E90003-0", "E90003-1"],
        ["E90002-0", "E90002-1"],
    ]
    assert chabsa.split_documents(list(reversed(examples)), (1 / 3, 1 / 3, 1 / 3))[1][0].id == "E90003-1"
    assert [len(p) for p in chabsa.split_documents(examples)] == [5, 0, 2]  # 3 documents: 2 / 0 / 1
    for seed in range(20):
        parts = chabsa.split_documents(examples, (0.5, 0.5), seed)
        assert parts == chabsa.split_documents(examples, (0.5, 0.5), seed)
        documents = [{ex.meta["document"] for ex in part} for part in parts]
        assert not documents[0] & documents[1]
        assert sorted(ex.id for part in parts for ex in part) == sorted(ex.id for ex in examples)
        for part in parts:  # sentences stay in reading order inside a document
            ids = [ex.id for ex in part]
            for document in {ex.meta["document"] for ex in part}:
                mine = [i for i in ids if i.startswith(document)]
                assert mine == sorted(mine)
    with pytest.raises(ValueError):
        chabsa.split_documents(examples, (0.5, 0.4))


def test_split_documents_equals_the_config_split_by_document(tmp_path):
    examples = list(chabsa.read(MINI))
    fractions = (1 / 3, 1 / 3, 1 / 3)
    for seed in (0, 1, 7):
        expected = chabsa.split_documents(examples, fractions, seed)
        assert split_groups(examples, fractions, seed, by="document") == expected
        for part in range(3):
            spec = DataSpec(str(MINI), "chabsa", fractions, part, seed, by="document")
            assert spec.select(examples) == expected[part]
    table = {"path": str(MINI), "split": [0.5, 0.5], "part": 1, "seed": 3, "by": "document"}
    assert read_data(table, field="dev") == chabsa.split_documents(examples, (0.5, 0.5), 3)[1]


def test_split_documents_needs_the_document_of_each_example():
    ex = next(chabsa.read(MINI))
    ex.meta.pop("document")
    with pytest.raises(MrekitError) as err:
        chabsa.split_documents([ex])
    assert (err.value.code, err.value.field) == ("E104", "meta.document")
