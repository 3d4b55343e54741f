"""Relation and event readers: SpERT JSON, ADE (joint ADE-vs-none folds) and PHEE, on our own fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mrekit import MrekitError, formats
from mrekit.datasets import read_data
from mrekit.formats import ade, phee, spert
from mrekit.schema import Event, Example, Relation, validate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONLL = FIXTURES / "conll04_mini.json"
ADE = FIXTURES / "ade_mini"
PHEE = FIXTURES / "phee_mini.json"


def error_of(reader, *args, **options) -> MrekitError:
    with pytest.raises(MrekitError) as err:
        list(reader(*args, **options))
    return err.value


def keys(ex: Example) -> list[tuple[int, int, str, str]]:
    return [(s.start, s.end, ex.surface(s), s.label) for s in ex.spans or []]


def round_trips(examples: list[Example]) -> None:
    for ex in examples:
        assert validate(ex) == []
        back = Example.from_dict(json.loads(json.dumps(ex.to_dict())))
        assert back == ex
        assert [s.attrs for s in back.spans or []] == [s.attrs for s in ex.spans or []]
        assert back.has_word_level == ex.has_word_level


# --- SpERT -----------------------------------------------------------------------------


def test_spert_tokens_become_exact_character_spans_and_relations_keep_entity_indices():
    first, second, third, fourth = spert.read(CONLL)
    assert first.text == "Marta Quill , a chemist at Brindle Labs , lives in Oslwick ."
    assert keys(first) == [(0, 11, "Marta Quill", "Peop"), (27, 39, "Brindle Labs", "Org"), (51, 58, "Oslwick", "Loc")]
    assert first.relations == [Relation(0, 1, "Work_For"), Relation(0, 2, "Live_In")]
    assert keys(second) == [(12, 20, "Fennmoor", "Loc"), (29, 37, "Castavia", "Loc")]
    assert third.relations == [Relation(1, 0, "Kill")]  # direction as in the file: killer -> victim
    assert keys(third)[1:] == [(29, 38, "Rell Varn", "Peop"), (42, 46, "1921", "Other")]
    assert [ex.id for ex in (first, second, third, fourth)] == ["901", "902", "903", "conll04_mini-3"]
    assert fourth.spans == [] and fourth.has_word_level and fourth.relations == []
    assert all(ex.labels == [] and ex.meta == {"source": "spert"} for ex in (first, second, third, fourth))


def test_spert_label_option_and_round_trip():
    examples = list(spert.read(CONLL, label="news", source="conll04"))
    assert {tuple(ex.labels) for ex in examples} == {("news",)}
    assert examples[0].meta == {"source": "conll04"}
    round_trips(examples)
    assert spert.token_offsets(["a", "bc", ""]) == [(0, 1), (2, 4), (5, 5)]


def test_spert_keeps_overlapping_entities():
    (nested,) = [ex for ex in spert.read(ADE / "folds" / "ade_split_1_test.json") if ex.id == "3"]
    assert keys(nested) == [
        (0, 19, "Acute kidney injury", "Adverse-Effect"),
        (6, 19, "kidney injury", "Adverse-Effect"),
        (29, 36, "tovarex", "Drug"),
    ]
    assert nested.relations == [Relation(0, 2, "Adverse-Effect"), Relation(1, 2, "Adverse-Effect")]
    assert validate(nested) == []  # overlaps are allowed by the schema


def test_spert_is_registered_and_inferred(tmp_path):
    assert formats.infer_format(CONLL) == "spert"
    assert formats.infer_format(ADE / "folds" / "ade_split_0_train.json") == "spert"
    assert list(formats.read(CONLL)) == list(spert.read(CONLL))
    assert not formats.writable("spert") and not formats.writable("ade") and not formats.writable("phee")
    other = tmp_path / "tokens.json"
    other.write_text('[{"tokens": ["a"]}]')  # no entities: not SpERT
    assert formats.infer_format(other) == "stockmark"
    assert formats.infer_format(FIXTURES / "stockmark_mini.json") == "stockmark"
    assert formats.infer_format(FIXTURES / "chabsa_mini" / "e90001_ann.json") == "chabsa"


def spert_file(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def sentence(**changes: object) -> dict:
    item = {
        "tokens": ["Ann", "met", "Bo", "."],
        "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Peop", "start": 2, "end": 3}],
        "relations": [{"type": "Knows", "head": 0, "tail": 1}],
    }
    item.update(changes)
    return item


def test_spert_bad_json_is_e103_with_file_and_line(tmp_path):
    path = spert_file(tmp_path, '[{"tokens": ["a"],\n "entities": [}]')
    err = error_of(spert.read, path)
    assert (err.code, err.path, err.line) == ("E103", str(path), 2)


@pytest.mark.parametrize(
    ("item", "code", "field"),
    [
        (sentence(entities=[{"type": "Peop", "start": 2, "end": 5}]), "E110", "[1].entities[0]"),
        (sentence(entities=[{"type": "Peop", "start": -1, "end": 1}]), "E110", "[1].entities[0]"),
        (sentence(entities=[{"type": "Peop", "start": 2, "end": 2}], relations=[]), "E111", "[1].entities[0]"),
        (sentence(relations=[{"type": "Knows", "head": 0, "tail": 2}]), "E114", "[1].relations[0].tail"),
        (sentence(relations=[{"type": "Knows", "head": -1, "tail": 0}]), "E114", "[1].relations[0].head"),
        (sentence(entities=[{"type": "Peop", "start": "0", "end": 1}]), "E104", "[1].entities[0].start"),
        (sentence(entities=[{"start": 0, "end": 1}]), "E104", "[1].entities[0].type"),
        (sentence(relations=[{"type": "Knows", "head": 0}]), "E104", "[1].relations[0].tail"),
        (sentence(tokens=["Ann", 3]), "E104", "[1].tokens[1]"),
        (sentence(tokens="Ann met Bo ."), "E104", "[1].tokens"),
        (sentence(orig_id=1.5), "E104", "[1].orig_id"),
        ({"tokens": ["a"]}, "E104", "[1].entities"),
        ("a sentence", "E104", "[1]"),
    ],
)
def test_spert_bad_sentences_are_coded_naming_the_file_and_field(tmp_path, item, code, field):
    path = spert_file(tmp_path, [sentence(), item])
    err = error_of(spert.read, path)
    assert (err.code, err.path, err.field) == (code, str(path), field)


def test_spert_duplicate_ids_empty_and_non_array_files(tmp_path):
    path = spert_file(tmp_path, [sentence(orig_id=7), sentence(orig_id="7")])
    err = error_of(spert.read, path)
    assert (err.code, err.field) == ("E107", "[1].orig_id")
    assert error_of(spert.read, spert_file(tmp_path, [])).code == "E101"
    assert error_of(spert.read, spert_file(tmp_path, {"tokens": []})).code == "E104"
    assert error_of(spert.read, tmp_path / "missing.json").code == "E100"
    assert list(spert.read(spert_file(tmp_path, [sentence(relations=None)])))[0].relations == []


# --- ADE -------------------------------------------------------------------------------


def test_ade_positives_get_the_ade_label_and_their_raw_sentence():
    fold = ADE / "folds" / "ade_split_0_test.json"
    tokenized = list(ade.read_positives(fold))
    assert [ex.text for ex in tokenized] == [
        "Severe rash developed after oral zentomycin .",
        "Zentomycin - induced hepatitis and liver failure were seen .",
    ]
    assert all(ex.labels == ["ADE"] and ex.meta == {"source": "ade"} for ex in tokenized)
    raw = list(ade.read_positives(fold, relations=ADE / "raw" / "DRUG-AE.rel"))
    first, second = raw
    assert first.text == "Severe rash developed after oral zentomycin."
    assert keys(first) == [(0, 11, "Severe rash", "Adverse-Effect"), (33, 43, "zentomycin", "Drug")]
    assert second.text == "Zentomycin-induced hepatitis and liver failure were seen."
    assert keys(second) == [
        (19, 28, "hepatitis", "Adverse-Effect"),
        (33, 46, "liver failure", "Adverse-Effect"),
        (0, 10, "Zentomycin", "Drug"),
    ]
    assert second.relations == [Relation(0, 2, "Adverse-Effect"), Relation(1, 2, "Adverse-Effect")]
    assert [ex.meta["document"] for ex in raw] == ["91001", "91001"]
    kept = list(ade.read_positives(fold, relations=ADE / "raw" / "DRUG-AE.rel", raw_text=False))
    assert [ex.text for ex in kept] == [ex.text for ex in tokenized] and kept[0].meta["document"] == "91001"


def test_ade_negatives_are_none_with_an_unannotated_word_level():
    negatives = list(ade.read_negatives(ADE / "raw" / "ADE-NEG.txt"))
    assert [ex.id for ex in negatives] == [
        "NEG-90007-0",
        "NEG-90020-0",
        "NEG-90007-1",
        "NEG-90002-0",
        "NEG-90039-1",
        "NEG-90017-0",
    ]  # NEG-90039-0 repeats "A case report."
    for ex in negatives:
        assert ex.labels == ["none"] and ex.spans is None and not ex.has_word_level and ex.relations == []
    assert negatives[2].text == "Blood counts were normal."
    assert negatives[2].meta == {"source": "ade", "document": "90007", "line": 3, "fold": 0}
    every = list(ade.read_negatives(ADE / "raw" / "ADE-NEG.txt", unique=False))
    assert len(every) == 7 and every[4].id == "NEG-90039-0" and every[4].meta["line"] == 5
    assert formats.read(ADE / "raw" / "ADE-NEG.txt", "ade").__next__() == negatives[0]
    round_trips(negatives)
    assert "spans" not in negatives[0].to_dict()


FOLD_IDS = {
    (0, "train"): ["2", "3", "NEG-90020-0", "NEG-90002-0", "NEG-90017-0"],
    (0, "test"): ["0", "1", "NEG-90007-0", "NEG-90007-1"],
    (1, "train"): ["0", "1", "NEG-90007-0", "NEG-90007-1", "NEG-90002-0", "NEG-90017-0"],
    (1, "test"): ["2", "3", "NEG-90020-0"],
}


@pytest.mark.parametrize(("k", "part"), sorted(FOLD_IDS))
def test_ade_fold_is_the_fold_file_and_the_negatives_of_its_fold(k, part):
    examples = ade.ade_fold(ADE, k, part)
    assert [ex.id for ex in examples] == FOLD_IDS[(k, part)]
    assert examples == ade.ade_fold(ADE, k, part)  # deterministic
    for ex in examples:
        negative = ex.id.startswith("NEG-")
        assert ex.labels == (["none"] if negative else ["ADE"])
        assert ex.has_word_level is not negative
        if negative:
            assert ex.meta["fold"] == ade.negative_fold(ex.meta["document"])
            assert (ex.meta["fold"] == k) is (part == "test")
    assert list(formats.read(ADE / "folds" / f"ade_split_{k}_{part}.json", "ade")) == examples
    round_trips(examples)


def test_ade_folds_split_the_negatives_and_never_count_a_positive_twice():
    unique = {ex.id for ex in ade.read_negatives(ADE / "raw" / "ADE-NEG.txt")}
    for k in (0, 1):
        train, test = (ade.ade_fold(ADE, k, part) for part in ("train", "test"))
        train_ids, test_ids = {ex.id for ex in train}, {ex.id for ex in test}
        assert not train_ids & test_ids
        # the negative spelling the positive "0" (whitespace aside) is dropped from both parts
        assert (unique - train_ids - test_ids) == {"NEG-90039-1"}
        assert {ex.meta["document"] for ex in train if not ex.has_word_level}.isdisjoint(
            {ex.meta["document"] for ex in test if not ex.has_word_level}
        )  # negatives go by document
    assert [ade.negative_fold(p) for p in ("90007", "90020", "90002", "90039", "90017")] == [0, 1, 4, 1, 3]
    tokenized = ade.ade_fold(ADE, 0, "test", raw_text=False)
    assert tokenized[0].text == "Severe rash developed after oral zentomycin ." and "document" not in tokenized[0].meta


def test_ade_fold_from_a_data_config_table():
    table = {"path": str(ADE / "folds" / "ade_split_1_test.json"), "format": "ade"}
    assert read_data(table, field="test") == ade.ade_fold(ADE, 1, "test")


def test_ade_errors(tmp_path):
    assert error_of(ade.read, CONLL).code == "E126"
    assert error_of(ade.read, ADE).code == "E126"
    with pytest.raises(ValueError):
        ade.ade_fold(ADE, 10, "test")
    with pytest.raises(ValueError):
        ade.ade_fold(ADE, 0, "dev")
    # a fold file without the raw files beside it
    lonely = tmp_path / "lonely" / "folds"
    lonely.mkdir(parents=True)
    shutil.copy(ADE / "folds" / "ade_split_0_test.json", lonely)
    err = error_of(ade.read, lonely / "ade_split_0_test.json")
    assert (err.code, err.path) == ("E100", str(tmp_path / "lonely" / "raw" / "ADE-NEG.txt"))
    # a malformed negative line, with its line
    corpus = tmp_path / "ade"
    shutil.copytree(ADE, corpus)
    negatives = corpus / "raw" / "ADE-NEG.txt"
    negatives.write_text("90007 NEG Fine.\n90008 POS Not a negative.\n", encoding="utf-8")
    err = error_of(ade.read_negatives, negatives)
    assert (err.code, err.path, err.line) == ("E104", str(negatives), 2)
    negatives.write_text("\n\n", encoding="utf-8")
    assert error_of(ade.read_negatives, negatives).code == "E101"
    # a raw sentence that is not the fold's tokens
    relations = corpus / "raw" / "DRUG-AE.rel"
    relations.write_text(relations.read_text().replace("Severe rash developed", "Mild rash developed"))
    err = error_of(ade.read_positives, corpus / "folds" / "ade_split_0_test.json", relations=relations)
    assert (err.code, err.path, err.field) == ("E124", str(corpus / "folds" / "ade_split_0_test.json"), "orig_id")
    relations.write_text("91001|too few fields\n")
    err = error_of(ade.read_positives, corpus / "folds" / "ade_split_0_test.json", relations=relations)
    assert (err.code, err.path, err.line) == ("E104", str(relations), 1)


# --- PHEE ------------------------------------------------------------------------------


def phee_examples() -> dict[str, Example]:
    return {ex.id: ex for ex in phee.read(PHEE)}


def test_phee_triggers_arguments_and_sub_arguments_are_spans_of_one_event():
    ex = phee_examples()["90001_1"]
    assert ex.text == "A 54-year-old woman developed severe neutropenia after oral zentomycin for sinusitis."
    assert ex.labels == ["Adverse_event"]
    assert keys(ex) == [
        (20, 29, "developed", "Trigger"),
        (0, 19, "A 54-year-old woman", "Subject"),
        (2, 13, "54-year-old", "Subject.Age"),
        (14, 19, "woman", "Subject.Gender"),
        (55, 84, "oral zentomycin for sinusitis", "Treatment"),
        (60, 70, "zentomycin", "Treatment.Drug"),
        (55, 59, "oral", "Treatment.Route"),
        (75, 84, "sinusitis", "Treatment.Disorder"),
        (37, 48, "neutropenia", "Effect"),
    ]
    assert ex.events == [
        Event(
            0,
            "Adverse_event",
            (
                ("Subject", 1),
                ("Subject.Age", 2),
                ("Subject.Gender", 3),
                ("Treatment", 4),
                ("Treatment.Drug", 5),
                ("Treatment.Route", 6),
                ("Treatment.Disorder", 7),
                ("Effect", 8),
            ),
        )
    ]
    assert ex.spans[0].attrs == {"negated": "false", "speculated": "false", "severity": "High"}
    assert all(s.attrs == {} for s in ex.spans[1:])  # the cue word "severe" is no span
    assert ex.meta == {"source": "phee", "document": "90001"}


def test_phee_two_events_share_their_spans_and_give_two_labels():
    ex = phee_examples()["90001_2"]
    assert ex.labels == ["Adverse_event", "Potential_therapeutic_event"]
    assert keys(ex) == [
        (19, 25, "caused", "Trigger"),
        (0, 9, "Brivalone", "Treatment"),
        (0, 9, "Brivalone", "Treatment.Drug"),
        (26, 36, "the tremor", "Effect"),
        (50, 58, "relieved", "Trigger"),
        (59, 71, "her migraine", "Effect"),
    ]
    assert ex.events == [
        Event(0, "Adverse_event", (("Treatment", 1), ("Treatment.Drug", 2), ("Effect", 3))),
        Event(4, "Potential_therapeutic_event", (("Treatment", 1), ("Treatment.Drug", 2), ("Effect", 5))),
    ]
    assert [ex.spans[i].attrs["speculated"] for i in (0, 4)] == ["true", "false"]


def test_phee_discontinuous_mentions_several_mentions_and_combinations():
    ex = phee_examples()["90002_1"]
    assert keys(ex) == [
        (26, 34, "followed", "Trigger"),
        (35, 75, "the combination of tovarex and brivalone", "Treatment"),
        (54, 61, "tovarex", "Treatment.Drug"),
        (66, 75, "brivalone", "Treatment.Drug"),
        (0, 5, "Renal", "Effect"),
        (18, 25, "failure", "Effect"),
        (10, 25, "hepatic failure", "Effect"),
        (39, 50, "combination", "Treatment.Combination"),
    ]
    assert ex.events == [
        Event(
            0,
            "Adverse_event",
            (
                ("Treatment", 1),
                ("Treatment.Drug", 2),
                ("Treatment.Drug", 3),
                ("Effect", 4),
                ("Effect", 5),
                ("Effect", 6),
            ),
        ),
        Event(7, "Combination", (("Drug", 2), ("Drug", 3))),
    ]
    assert ex.meta["discontinuous"] == [[4, 5]]  # "Renal ... failure" is one mention
    assert ex.labels == ["Adverse_event"]  # a combination gives no text label
    assert ex.spans[7].attrs == {}


def test_phee_attributes_belong_to_the_trigger_of_their_event():
    examples = phee_examples()
    negated = examples["90003_1"]
    assert negated.spans[0].attrs == {"negated": "true", "speculated": "false"}
    assert keys(negated)[0] == (16, 21, "cause", "Trigger")
    shared = examples["90003_2"]  # one trigger, two events, different severity: two trigger spans
    assert keys(shared) == [
        (8, 14, "caused", "Trigger"),
        (0, 7, "Tovarex", "Treatment"),
        (0, 7, "Tovarex", "Treatment.Drug"),
        (20, 26, "nausea", "Effect"),
        (8, 14, "caused", "Trigger"),
        (31, 39, "vomiting", "Effect"),
    ]
    assert [shared.spans[i].attrs.get("severity") for i in (0, 4)] == ["Low", None]
    assert [e.trigger for e in shared.events] == [0, 4]


def test_phee_is_registered_inferred_and_round_trips():
    assert formats.infer_format(PHEE) == "phee"
    examples = list(formats.read(PHEE))
    assert examples == list(phee.read(PHEE)) and len(examples) == 5
    round_trips(examples)
    assert Example.from_dict(examples[2].to_dict()).meta["discontinuous"] == [[4, 5]]


def phee_file(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "phee.json"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def record(**event_changes: object) -> dict:
    event = {
        "event_type": "Adverse_event",
        "Trigger": {"text": [["after"]], "start": [[5]], "entity_id": ["T1"]},
        "Effect": {"text": [["Rash"]], "start": [[0]], "entity_id": ["T2"]},
    }
    event.update(event_changes)
    return {"id": "9_1", "context": "Rash after drug-x.", "annotations": [{"events": [event]}]}


def test_phee_a_sentence_without_events_is_none_and_annotated(tmp_path):
    path = phee_file(tmp_path, {"id": 4, "context": "Nothing happened.", "annotations": [{"events": []}]})
    (ex,) = phee.read(path)
    assert (ex.id, ex.labels, ex.spans, ex.events) == ("4", ["none"], [], [])


def test_phee_bad_json_is_e103_with_file_and_line(tmp_path):
    path = phee_file(tmp_path, record(), '{"id": "9_2", "context": ')
    err = error_of(phee.read, path)
    assert (err.code, err.path, err.line) == ("E103", str(path), 2)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        (
            {"Trigger": {"text": [["after"]], "start": [[4]], "entity_id": ["T1"]}},
            "E112",
            "annotations[0].events[0].Trigger",
        ),
        (
            {"Effect": {"text": [["Rash"]], "start": [[16]], "entity_id": ["T2"]}},
            "E110",
            "annotations[0].events[0].Effect",
        ),
        (
            {"Effect": {"text": [[""]], "start": [[3]], "entity_id": ["T2"]}},
            "E111",
            "annotations[0].events[0].Effect",
        ),
        (
            {"Effect": {"text": [["Rash"]], "start": [[0, 1]], "entity_id": ["T2"]}},
            "E104",
            "annotations[0].events[0].Effect.start",
        ),
        (
            {"Effect": {"text": [["Rash"]], "start": [], "entity_id": ["T2"]}},
            "E104",
            "annotations[0].events[0].Effect.start",
        ),
        (
            {"Treatment": {"text": [["drug-x"]], "start": [[11]], "Drug": {"text": [["drug-x"]]}}},
            "E104",
            "annotations[0].events[0].Treatment.Drug.start",
        ),
        (
            {"Treatment": {"text": [["drug-x"]], "start": [[11]], "Drug": "drug-x"}},
            "E104",
            "annotations[0].events[0].Treatment.Drug",
        ),
        ({"Trigger": None}, "E104", "annotations[0].events[0].Trigger"),
        ({"event_type": 3}, "E104", "annotations[0].events[0].event_type"),
        ({"Effect": [1]}, "E104", "annotations[0].events[0].Effect"),
        (
            {"Severity": {"text": [["x"]], "start": [[0]], "value": None}},
            "E104",
            "annotations[0].events[0].Severity.value",
        ),
    ],
)
def test_phee_bad_events_are_coded_with_file_line_and_field(tmp_path, changes, code, field):
    path = phee_file(tmp_path, record(), record(**changes) | {"id": "9_2"})
    err = error_of(phee.read, path)
    assert (err.code, err.path, err.line, err.field) == (code, str(path), 2, field)


def test_phee_bad_records_and_files(tmp_path):
    for bad, field in (
        ({"id": "1", "annotations": []}, "context"),
        ({"id": "1", "context": "a", "annotations": []}, "annotations"),
        ({"id": None, "context": "a", "annotations": [{"events": []}]}, "id"),
        ({"id": "1", "context": "a", "annotations": [{}]}, "annotations[0].events"),
        ({"id": "1", "context": "a", "annotations": ["x"]}, "annotations[0]"),
    ):
        err = error_of(phee.read, phee_file(tmp_path, bad))
        assert (err.code, err.line, err.field) == ("E104", 1, field)
    err = error_of(phee.read, phee_file(tmp_path, record(), "", record()))
    assert (err.code, err.line, err.field) == ("E107", 3, "id")
    assert error_of(phee.read, phee_file(tmp_path, "")).code == "E101"
    two = record(Trigger={"text": [["Rash"], ["after"]], "start": [[0], [5]], "entity_id": ["T1", "T3"]})
    assert error_of(phee.read, phee_file(tmp_path, two)).code == "E104"
