from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mrekit
from mrekit.encoder.backbone import make_tiny_encoder
from mrekit.encoder.model import MREModel
from mrekit.encoder.pairs import (
    EVENT_TYPE,
    MAX_PAIRS,
    PairSpace,
    allowed_labels,
    candidate_pairs,
    pair_targets,
    pair_tensors,
    with_event_types,
)
from mrekit.metrics import evaluate
from mrekit.schema import Event, Example, Relation, Span
from mrekit.trainer import TrainingArguments

ARGS = TrainingArguments(epochs=30, batch_size=8, learning_rate=3e-3, head_learning_rate=1e-2, warmup_ratio=0.0, seed=3)
NAMES = ["Ann", "Bob", "Carl", "Dora", "Eve", "Fred"]
ORGS = ["Acme", "Initech", "Globex"]
CITIES = ["Paris", "Rome", "Oslo"]


def relation_example(text: str, entities: list[tuple[str, str]], relations: list[tuple[int, int, str]]) -> Example:
    spans = [Span(text.index(t), text.index(t) + len(t), label) for t, label in entities]
    return Example(text, spans=spans, relations=[Relation(h, t, label) for h, t, label in relations])


def event_example(text: str, trigger: str, kind: str, args: list[tuple[str, str]]) -> Example:
    spans = [Span(text.index(trigger), text.index(trigger) + len(trigger), "Trigger")]
    roles = []
    for surface, role in args:
        spans.append(Span(text.index(surface), text.index(surface) + len(surface), role))
        roles.append((role, len(spans) - 1))
    return Example(text, labels=[kind], spans=spans, events=[Event(0, kind, tuple(roles))])


def relation_data() -> list[Example]:
    out = []
    for i, name in enumerate(NAMES):
        org, city, other = ORGS[i % 3], CITIES[(i + 1) % 3], NAMES[(i + 2) % 6]
        out.append(relation_example(f"{name} works for {org} .", [(name, "Peop"), (org, "Org")], [(0, 1, "Work_For")]))
        out.append(relation_example(f"{name} lives in {city} .", [(name, "Peop"), (city, "Loc")], [(0, 1, "Live_In")]))
        out.append(
            relation_example(
                f"{name} visited {city} and met {other} .", [(name, "Peop"), (city, "Loc"), (other, "Peop")], []
            )
        )
    return out


def event_data() -> list[Example]:
    out = []
    for drug in ("aspirin", "ibuprofen", "warfarin"):
        for effect in ("rash", "nausea", "bleeding"):
            text = f"The patient took {drug} and developed {effect} ."
            out.append(event_example(text, "developed", "Adverse_event", [(drug, "Treatment"), (effect, "Effect")]))
            text = f"{drug} improved the {effect} ."
            args = [(drug, "Treatment"), (effect, "Effect")]
            out.append(event_example(text, "improved", "Potential_therapeutic_event", args))
    return out


@pytest.fixture(scope="module")
def data():
    return relation_data() + event_data()


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    encoder = make_tiny_encoder(tmp_path_factory.mktemp("pair-encoder"), [ex.text for ex in data])
    out = tmp_path_factory.mktemp("pair-run")
    return MREModel(mode="mre", encoder=encoder).fit(data, data, args=ARGS, output_dir=out)


# --- spaces, candidates and tensors, by hand --------------------------------------------------


def test_pair_space_collects_labels_triggers_and_type_pairs(data):
    space = PairSpace.from_examples(data)
    assert space.relation_labels == ["Live_In", "Work_For"]
    assert space.relation_types == {"Live_In": [["Peop", "Loc"]], "Work_For": [["Peop", "Org"]]}
    assert space.role_labels == ["Effect", "Treatment"] and space.trigger_labels == ["Trigger"]
    assert space.role_types == {"Effect": [["Trigger", "Effect"]], "Treatment": [["Trigger", "Treatment"]]}


def test_candidates_are_ordered_pairs_and_triggers_to_arguments():
    labels = ["Peop", "Org", "Loc"]
    assert candidate_pairs(labels, "relations", set()) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    assert candidate_pairs(["Trigger", "Drug", "Trigger"], "arguments", {"Trigger"}) == [(0, 1), (2, 1)]
    assert len(candidate_pairs(["x"] * 30, "relations", set())) == MAX_PAIRS


def test_event_types_become_trigger_attributes():
    ex = event_data()[0]
    typed = with_event_types([ex])[0]
    assert typed.spans[0].attrs == {EVENT_TYPE: "Adverse_event"} and typed.spans[1].attrs == {}
    assert ex.spans[0].attrs == {}  # the input is not changed


def test_pair_targets_and_tensors():
    ex = relation_data()[2]  # "Ann visited Rome and met Carl ." -- three spans, no relation
    ex = Example(ex.text, spans=ex.spans, relations=[Relation(2, 0, "Work_For")])  # a made-up one
    space = PairSpace(["Live_In", "Work_For"])
    token_spans = [(1, 2, "Peop"), (3, 4, "Loc"), (6, 7, "Peop")]
    tokens, targets = pair_targets(ex, token_spans, space, {"Loc": 0, "Org": 1, "Peop": 2})
    assert tokens == [(1, 2, 2), (3, 4, 0), (6, 7, 2)]
    assert targets["relations"] == [(0, 1, 0), (0, 2, 0), (1, 0, 0), (1, 2, 0), (2, 0, 2), (2, 1, 0)]
    real = torch.ones(1, 9, dtype=torch.bool)
    tensors = pair_tensors([tokens], [targets["relations"]], real)
    assert tensors["head"][0, 4].nonzero().flatten().tolist() == [6]  # pair (2, 0): head is span 2
    assert tensors["tail"][0, 4].nonzero().flatten().tolist() == [1]
    assert tensors["between"][0, 4].nonzero().flatten().tolist() == [2, 3, 4, 5]  # tokens between the spans
    assert tensors["types"][0, 4].tolist() == [2, 2] and tensors["labels"][0].tolist() == [0, 0, 0, 0, 2, 0]
    assert not (allowed_labels(["Live_In", "Work_For"], {"Work_For": [["Peop", "Org"]]}, "Peop", "Loc")[1:]).any()


# --- the trained model ------------------------------------------------------------------------


def test_predicts_relations_between_its_own_spans(trained):
    doc = trained.predict(["Bob works for Acme ."])[0]
    assert [(doc.surface(s), s.label) for s in doc.spans] == [("Bob", "Peop"), ("Acme", "Org")]
    assert [(r.head, r.tail, r.label) for r in doc.relations] == [(0, 1, "Work_For")]
    assert 0.5 < doc.relations[0].score <= 1.0
    none = trained.predict(["Eve visited Rome and met Ann ."])[0]
    assert none.relations == []


def test_predicts_events_with_typed_triggers_and_arguments(trained):
    doc = trained.predict(["The patient took warfarin and developed nausea ."])[0]
    trigger = next(i for i, s in enumerate(doc.spans) if s.label == "Trigger")
    assert doc.surface(doc.spans[trigger]) == "developed"
    assert EVENT_TYPE not in doc.spans[trigger].attrs  # the type moved to the event
    (event,) = doc.events
    assert (event.trigger, event.type) == (trigger, "Adverse_event")
    assert sorted((role, doc.surface(doc.spans[i])) for role, i in event.args) == [
        ("Effect", "nausea"),
        ("Treatment", "warfarin"),
    ]
    line = json.loads(json.dumps(doc.to_dict()))
    assert line["events"][0]["type"] == "Adverse_event" and "attrs" not in line["spans"][trigger]


def test_training_data_is_learnt_at_every_level(trained, data):
    scores = evaluate(data, trained.predict([ex.text for ex in data]), bootstrap=0)
    assert scores["relation_f1"] >= 0.9 and scores["event_argument_f1"] >= 0.9 and scores["span_f1"] >= 0.95


def test_saved_and_onnx_models_predict_the_same_structures(trained, data, tmp_path):
    folder = trained.save(tmp_path / "m")
    config = json.loads((folder / "mrekit.json").read_text())["config"]
    assert config["relation_types"]["Work_For"] == [["Peop", "Org"]] and config["trigger_labels"] == ["Trigger"]
    texts = [ex.text for ex in data]
    torch_model = mrekit.load(folder, backend="torch")
    a = torch_model.predict(texts)
    assert [(x.relations, x.events) for x in a] == [(y.relations, y.events) for y in trained.predict(texts)]
    pytest.importorskip("onnxruntime")
    torch_model.export()
    onnx = mrekit.load(folder, backend="onnx")
    assert onnx.backend_.outputs[-2:] == ["token_states", "pair_context"]
    b = onnx.predict(texts)
    assert [(x.spans, [(r.head, r.tail, r.label) for r in x.relations], x.events) for x in a] == [
        (y.spans, [(r.head, r.tail, r.label) for r in y.relations], y.events) for y in b
    ]
    scores = [r.score for x in a for r in x.relations], [r.score for y in b for r in y.relations]
    assert np.allclose(*scores, atol=1e-3)


def test_unseen_type_pairs_are_reported_and_enforcement_drops_them(trained):
    config = trained.model_.config
    saved = config.relation_types
    config.relation_types = {"Work_For": [["Org", "Peop"]], "Live_In": [["Peop", "Loc"]]}
    try:
        doc = trained.predict(["Bob works for Acme ."])[0]
        assert [r.label for r in doc.relations] == ["Work_For"] and doc.meta["inconsistent_relations"] == [0]
        enforced = trained.predict(["Bob works for Acme ."], consistency="enforce")[0]
        assert all(r.label != "Work_For" for r in enforced.relations)
        assert "inconsistent_relations" not in enforced.meta
    finally:
        config.relation_types = saved


def test_texts_without_structures_train_and_keep_two_outputs(data, tmp_path):
    plain = [Example(ex.text, spans=ex.spans) for ex in data[:6]]
    encoder = make_tiny_encoder(tmp_path / "enc", [ex.text for ex in plain])
    model = MREModel(mode="shared", encoder=encoder, levels=["word"]).fit(
        plain, args=TrainingArguments(epochs=1, batch_size=4), output_dir=tmp_path / "run"
    )
    assert model.model_.config.outputs == ("text_probs", "tag_scores")
    assert model.model_.relation_head is None and model.predict(["Ann works for Acme ."])[0].relations == []


def test_wrong_predicted_spans_become_none_pairs():
    from mrekit.encoder.pairs import predicted_span_negatives

    tags = ["O", "B-Org", "I-Org", "B-Peop", "I-Peop"]
    # tokens: [CLS] Ann works for Acme Inc [SEP]; gold Peop 1-2 and Org 4-6; predicted Peop 1-2 and Org 4-5
    path = [0, 3, 0, 0, 1, 0, 0]
    logits = torch.nn.functional.one_hot(torch.tensor([path]), 5).float()
    real = torch.tensor([[0, 1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    gold = torch.tensor([[[1, 2, 1], [4, 6, 0]]])
    spans, pairs = predicted_span_negatives(logits, real, gold, tags, ["Org", "Peop"], "relations", set())
    assert spans == [[(1, 2, 1), (4, 6, 0), (4, 5, 0)]]  # the right Peop is gold; the short Org is extra
    assert pairs == [[(0, 2, 0), (1, 2, 0), (2, 0, 0), (2, 1, 0)]]


def test_structures_never_seen_with_the_text_label_are_reported_or_left_out(trained):
    config = trained.model_.config
    assert config.structure_consistency == {
        "Adverse_event": ["Adverse_event"],
        "Potential_therapeutic_event": ["Potential_therapeutic_event"],
    }
    text = "The patient took warfarin and developed nausea ."
    saved = config.structure_consistency
    config.structure_consistency = {"Adverse_event": ["Potential_therapeutic_event"]}
    try:
        doc = trained.predict([text])[0]
        assert doc.labels == ["Adverse_event"] and [e.type for e in doc.events] == ["Adverse_event"]
        assert doc.meta["inconsistent_with_text"] == {"relations": [], "events": [0]}
        enforced = trained.predict([text], consistency="enforce")[0]
        assert enforced.events == [] and "inconsistent_with_text" not in enforced.meta
    finally:
        config.structure_consistency = saved


def test_structure_consistency_counts_labels_without_structures():
    from mrekit.encoder.features import structure_consistency

    ade = [
        Example(
            "a b",
            labels=["ADE"],
            spans=[Span(0, 1, "Drug"), Span(2, 3, "Effect")],
            relations=[Relation(0, 1, "Adverse-Effect")],
        ),
        Example("c", labels=["none"]),
    ]
    assert structure_consistency(ade) == {"ADE": ["Adverse-Effect"], "none": []}
    assert structure_consistency([Example("c", labels=["none"], spans=[])]) == {}


def test_word_level_models_of_relations_are_chosen_on_relation_f1(data, tmp_path):
    from mrekit.encoder.training import EncoderHooks

    relations = relation_data()[:6]
    encoder = make_tiny_encoder(tmp_path / "enc", [ex.text for ex in relations])
    model = MREModel(mode="isolated", encoder=encoder, levels=["word"]).fit(
        relations, relations, args=TrainingArguments(epochs=1, batch_size=4), output_dir=tmp_path / "run"
    )
    hooks = EncoderHooks(model.model_, model.tokenizer_, TrainingArguments())
    assert hooks.selection_metric(relations) == "relation_f1"
    plain = [Example(ex.text, spans=ex.spans) for ex in relations]
    assert hooks.selection_metric(plain) == "span_f1"
    log = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "relation_f1" in log
