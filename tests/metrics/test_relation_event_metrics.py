"""Relation (SpERT) and event (PHEE) metrics and the everything-right frame, computed by hand and against oracles."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from mrekit.metrics import (
    METRIC_KEYS,
    FrameLevels,
    bootstrap_distribution,
    build_table,
    evaluate,
    frame_accuracy,
    frame_levels,
    is_frame_correct,
    match_predictions,
    structure_scores,
)
from mrekit.schema import Event, Example, Relation, Span

RELATION_KEYS = ("relation_f1", "relation_boundary_f1", "relation_f1_macro", "relation_boundary_f1_macro")
EVENT_KEYS = (
    "event_trigger_id_f1",
    "event_trigger_f1",
    "event_argument_id_f1",
    "event_argument_f1",
    "event_main_argument_id_f1",
    "event_main_argument_f1",
)


def at(text: str, surface: str, label: str) -> Span:
    """The span of the first occurrence of ``surface`` in ``text``."""
    start = text.index(surface)
    return Span(start, start + len(surface), label)


# ---------------------------------------------------------------- relations

S1 = "alice works at acme in paris"
S2 = "bob works for ibm"
ALICE, ACME, PARIS = at(S1, "alice", "per"), at(S1, "acme", "org"), at(S1, "paris", "loc")
BOB, IBM = at(S2, "bob", "per"), at(S2, "ibm", "org")

# Gold: 3 relations of 2 types (works_for twice, located_in once).
RE_GOLD = [
    Example(S1, spans=[ALICE, ACME, PARIS], relations=[Relation(0, 1, "works_for"), Relation(1, 2, "located_in")]),
    Example(S2, spans=[BOB, IBM], relations=[Relation(0, 1, "works_for")]),
]
RE_PRED = [
    Example(
        S1,
        spans=[ALICE, at(S1, "acme", "loc"), at(S1, "acm", "org"), PARIS],
        relations=[
            Relation(0, 1, "works_for"),  # acme typed loc: strict miss, boundary hit
            Relation(2, 3, "located_in"),  # head "acm" (15-18): wrong boundary, a miss both ways
        ],
    ),
    Example(
        S2,
        spans=[BOB, IBM],
        relations=[
            Relation(0, 1, "works_for"),  # right
            Relation(1, 0, "lives_in"),  # extra, of a type gold never has
        ],
    ),
]


def test_relation_micro_and_macro_strict_and_boundary_by_hand() -> None:
    scores = evaluate(RE_GOLD, RE_PRED, bootstrap=0)
    # strict: tp 1 (bob works_for ibm), pred 4, gold 3 -> F1 2*1/(4+3) = 2/7
    assert scores["relation_f1"] == 2 / 7
    # boundary: + alice works_for acme (entity type ignored): tp 2 -> 2*2/7 = 4/7
    assert scores["relation_boundary_f1"] == 4 / 7
    # strict per type, over types in gold or predictions (works_for, located_in, lives_in):
    #   works_for  tp 1, pred 2, gold 2 -> 1/2; located_in tp 0, pred 1, gold 1 -> 0; lives_in pred 1 -> 0
    #   macro = (1/2 + 0 + 0) / 3 = 1/6
    assert scores["relation_f1_macro"] == pytest.approx(1 / 6, abs=1e-15)
    # boundary per type: works_for tp 2, pred 2, gold 2 -> 1; located_in 0; lives_in 0 -> macro 1/3
    assert scores["relation_boundary_f1_macro"] == pytest.approx(1 / 3, abs=1e-15)
    # entity F1 (SpERT's NER score) is the strict span F1: tp alice, paris, bob, ibm = 4, pred 6, gold 5 -> 8/11
    assert scores["span_f1"] == 8 / 11
    assert scores["per_label"]["relations"] == {
        "located_in": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "lives_in": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "works_for": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
    }
    assert all(scores[k] is None for k in EVENT_KEYS)


def test_structure_scores_report_the_relation_variants() -> None:
    scores = structure_scores(RE_GOLD, RE_PRED)
    assert (scores["relation"].tp, scores["relation"].n_pred, scores["relation"].n_gold) == (1, 4, 3)
    assert (scores["relation_boundary"].tp, scores["relation_boundary"].n_pred) == (2, 4)
    assert scores["relation_f1_macro"] == pytest.approx(1 / 6, abs=1e-15)
    assert scores["relation_per_type"]["works_for"].f1 == 0.5
    assert scores["event_argument"] is None and scores["event_main_argument"] is None


def test_macro_averages_over_gold_types_that_are_never_predicted() -> None:
    pred = [Example(S1, spans=[ALICE, ACME, PARIS], relations=[Relation(0, 1, "works_for")]), RE_GOLD[1]]
    scores = evaluate(RE_GOLD, pred, bootstrap=0)
    # works_for 2/2 right -> 1; located_in missed -> 0: macro 1/2; micro tp 2, pred 2, gold 3 -> 4/5
    assert scores["relation_f1_macro"] == 0.5 and scores["relation_f1"] == 4 / 5


def test_relations_are_directed() -> None:
    pred = [Example(S2, spans=[BOB, IBM], relations=[Relation(1, 0, "works_for")])]
    scores = evaluate(RE_GOLD[1:], pred, bootstrap=0)
    assert scores["relation_f1"] == 0.0 and scores["relation_boundary_f1"] == 0.0


def test_dangling_relation_index_matches_nothing_but_counts_for_its_type() -> None:
    pred = [Example(S2, spans=[BOB, IBM], relations=[Relation(0, 1, "works_for"), Relation(0, 5, "works_for")])]
    scores = evaluate(RE_GOLD[1:], pred, bootstrap=0)
    # tp 1, pred 2, gold 1 -> 2/3, strict and boundary; one type, so macro = micro
    assert scores["relation_f1"] == scores["relation_boundary_f1"] == scores["relation_f1_macro"] == 2 / 3


def spert_scores(gold: list[Example], pred: list[Example], entity_types: bool) -> tuple[float, float]:
    """Micro and macro F1 the way SpERT's ``Evaluator._score`` computes them (sets per sentence, scikit-learn)."""

    def tuples(ex: Example) -> set:
        def ent(i: int) -> tuple:
            s = ex.spans[i]
            return (s.start, s.end, s.label if entity_types else "Entity")

        return {(ent(r.head), ent(r.tail), r.label) for r in ex.relations}

    types = sorted({r.label for ex in [*gold, *pred] for r in ex.relations})
    index = {t: j + 1 for j, t in enumerate(types)}
    gt_flat, pred_flat = [], []
    for g, p in zip(gold, pred, strict=True):
        sample_gt, sample_pred = tuples(g), tuples(p)
        for s in sample_gt | sample_pred:
            gt_flat.append(index[s[2]] if s in sample_gt else 0)
            pred_flat.append(index[s[2]] if s in sample_pred else 0)
    labels = list(index.values())
    micro = precision_recall_fscore_support(gt_flat, pred_flat, labels=labels, average="micro", zero_division=0)
    macro = precision_recall_fscore_support(gt_flat, pred_flat, labels=labels, average="macro", zero_division=0)
    return micro[2], macro[2]


def random_relation_corpus(seed: int, n: int = 60) -> tuple[list[Example], list[Example]]:
    """Sentences of 6 one-character tokens; spans and relations drawn at random, no duplicate identity."""
    rng = np.random.default_rng(seed)
    text = "a b c d e f"
    ent_types, rel_types = ["per", "org", "loc"], ["r1", "r2", "r3", "r4"]

    def draw(base: list[Span] | None) -> Example:
        if base is None:
            starts = sorted(rng.choice(6, size=4, replace=False))
            spans = [Span(2 * s, 2 * s + 1, str(rng.choice(ent_types))) for s in starts]
        else:  # perturb: retype or widen some spans
            spans = []
            for s in base:
                roll = rng.random()
                if roll < 0.2:
                    spans.append(Span(s.start, s.end, str(rng.choice(ent_types))))
                elif roll < 0.3 and s.end + 2 <= len(text):
                    spans.append(Span(s.start, s.end + 2, s.label))
                else:
                    spans.append(s)
        seen, relations = set(), []
        for _ in range(int(rng.integers(0, 4))):
            head, tail = (int(x) for x in rng.choice(len(spans), size=2, replace=False))
            label = str(rng.choice(rel_types[: 3 if base is None else 4]))
            # SpERT compares sets: keep identities distinct under both settings.
            key = ((spans[head].start, spans[head].end), (spans[tail].start, spans[tail].end), label)
            if key not in seen:
                seen.add(key)
                relations.append(Relation(head, tail, label))
        return Example(text, spans=spans, relations=relations)

    gold = [draw(None) for _ in range(n)]
    pred = [draw(g.spans) for g in gold]
    for g, p in zip(gold, pred, strict=True):  # keep a share of gold relations so there are hits
        keep = [r for r in g.relations if rng.random() < 0.6]
        p.relations = keep + [r for r in p.relations if r not in keep][:2]
    return gold, pred


@pytest.mark.parametrize("seed", range(5))
def test_relation_scores_equal_spert_evaluator(seed: int) -> None:
    gold, pred = random_relation_corpus(seed)
    scores = evaluate(gold, pred, bootstrap=0)
    strict, boundary = spert_scores(gold, pred, entity_types=True), spert_scores(gold, pred, entity_types=False)
    assert scores["relation_f1"] == pytest.approx(strict[0], abs=1e-12)
    assert scores["relation_f1_macro"] == pytest.approx(strict[1], abs=1e-12)
    assert scores["relation_boundary_f1"] == pytest.approx(boundary[0], abs=1e-12)
    assert scores["relation_boundary_f1_macro"] == pytest.approx(boundary[1], abs=1e-12)


# ---------------------------------------------------------------- events (PHEE roles)

E1 = "a boy took aspirin and got a rash"
E2 = "drug x cured her fever"
E3 = "she developed hepatitis after taking isoniazid"


def event_example(text: str, trigger: Span, kind: str, args: list[tuple[str, Span]]) -> Example:
    spans = [trigger]
    indexed = []
    for role, span in args:
        if span not in spans:
            spans.append(span)
        indexed.append((role, spans.index(span)))
    return Example(text, spans=spans, events=[Event(0, kind, tuple(indexed))])


BOY, ASPIRIN, A_RASH = at(E1, "boy", "arg"), at(E1, "aspirin", "arg"), at(E1, "a rash", "arg")
EV_GOLD = [
    event_example(
        E1,
        at(E1, "got", "Trigger"),
        "Adverse_event",
        [("Subject", BOY), ("Treatment", ASPIRIN), ("Treatment.Drug", ASPIRIN), ("Effect", A_RASH)],
    ),
    event_example(
        E2,
        at(E2, "cured", "Trigger"),
        "Potential_therapeutic_event",
        [("Treatment", at(E2, "drug x", "arg")), ("Effect", at(E2, "fever", "arg"))],
    ),
    event_example(
        E3,
        at(E3, "developed", "Trigger"),
        "Adverse_event",
        [("Effect", at(E3, "hepatitis", "arg")), ("Treatment", at(E3, "isoniazid", "arg"))],
    ),
]
EV_PRED = [
    event_example(  # trigger right; "a rash" right span, wrong role (Subject for Effect); sub-argument right
        E1,
        at(E1, "got", "Trigger"),
        "Adverse_event",
        [("Subject", BOY), ("Treatment", ASPIRIN), ("Treatment.Drug", ASPIRIN), ("Subject", A_RASH)],
    ),
    event_example(  # trigger boundaries right, event type wrong: every argument carries the wrong type
        E2,
        at(E2, "cured", "Trigger"),
        "Adverse_event",
        [("Treatment", at(E2, "drug x", "arg")), ("Effect", at(E2, "fever", "arg"))],
    ),
    event_example(  # trigger too wide but of the right type; its arguments are right
        E3,
        at(E3, "developed hepatitis", "Trigger"),
        "Adverse_event",
        [("Effect", at(E3, "hepatitis", "entity")), ("Treatment", at(E3, "isoniazid", "entity"))],
    ),
]


def test_event_metrics_by_hand() -> None:
    scores = evaluate(EV_GOLD, EV_PRED, bootstrap=0)
    # Triggers: gold 3, pred 3. Identification (offsets): E1, E2 hit, E3 too wide -> tp 2 -> 4/6.
    assert scores["event_trigger_id_f1"] == 2 / 3
    # Classification (+ event type): E2 has the wrong type -> tp 1 -> 2/6.
    assert scores["event_trigger_f1"] == 1 / 3
    # Arguments, classification (event type, role, offsets): gold 4 + 2 + 2 = 8, pred 8.
    #   E1: Subject boy, Treatment aspirin, Treatment.Drug aspirin hit; "a rash" has the wrong role -> 3
    #   E2: the event type is wrong -> 0;  E3: both hit, the trigger's offsets are not asked for -> 2
    #   tp 5 -> 2*5/16 = 5/8. (Tied to the trigger's offsets, E3 would miss: tp 3 -> 3/8.)
    assert scores["event_argument_f1"] == 5 / 8
    # Identification (event type, main/sub, offsets; the role is ignored): E1 4, E2 0, E3 2 -> 12/16.
    assert scores["event_argument_id_f1"] == 3 / 4
    # Main arguments only (roles without "."): gold 3 + 2 + 2 = 7, pred 7.
    #   classification: E1 Subject boy, Treatment aspirin -> 2; E3 2 -> tp 4 -> 8/14 = 4/7
    #   identification: E1 3 (the wrong role still identifies "a rash"); E3 2 -> tp 5 -> 10/14 = 5/7
    assert scores["event_main_argument_f1"] == 4 / 7
    assert scores["event_main_argument_id_f1"] == 5 / 7
    assert all(scores[k] is None for k in RELATION_KEYS)


def test_structure_scores_report_the_event_variants() -> None:
    scores = structure_scores(EV_GOLD, EV_PRED)
    assert (scores["event_argument"].tp, scores["event_argument"].n_pred, scores["event_argument"].n_gold) == (5, 8, 8)
    assert scores["event_main_argument"].tp == 4 and scores["event_main_argument_id"].tp == 5
    assert scores["event_trigger_id"].tp == 2 and scores["event_trigger"].tp == 1
    assert scores["relation"] is None and scores["relation_f1_macro"] is None


def test_sub_argument_errors_leave_the_main_scores_alone() -> None:
    pred = [
        event_example(
            E1,
            at(E1, "got", "Trigger"),
            "Adverse_event",
            [
                ("Subject", BOY),
                ("Treatment", ASPIRIN),
                ("Treatment.Drug", at(E1, "aspirin and", "arg")),
                ("Effect", A_RASH),
            ],
        )
    ]
    scores = evaluate(EV_GOLD[:1], pred, bootstrap=0)
    assert scores["event_main_argument_f1"] == 1.0 and scores["event_main_argument_id_f1"] == 1.0
    # all arguments: tp 3 of 4 gold, 4 predicted -> 6/8
    assert scores["event_argument_f1"] == 0.75 and scores["event_argument_id_f1"] == 0.75


def test_sub_argument_is_not_identified_as_a_main_argument() -> None:
    # "aspirin" predicted only as Treatment.Drug: identification keeps PHEE's main/sub split.
    gold = [event_example(E1, at(E1, "got", "Trigger"), "Adverse_event", [("Treatment", ASPIRIN)])]
    pred = [event_example(E1, at(E1, "got", "Trigger"), "Adverse_event", [("Treatment.Drug", ASPIRIN)])]
    scores = evaluate(gold, pred, bootstrap=0)
    assert scores["event_argument_id_f1"] == 0.0 and scores["event_main_argument_id_f1"] == 0.0


def phee_scores(gold: list[Example], pred: list[Example]) -> dict[str, float]:
    """EM F1 the way PHEE's ``evaluate/phee_metric.py`` counts it, with offsets in place of normalised strings.

    Per sentence, classification groups by ``event type.role`` and identification by
    ``event type.MainArg`` / ``event type.SubArg``; each group is a multiset match.
    """

    def groups(ex: Example, by_role: bool, main_only: bool) -> dict[str, list]:
        out: dict[str, list] = defaultdict(list)
        for event in ex.events:
            for role, i in event.args:
                main = "." not in role
                if main_only and not main:
                    continue
                key = f"{event.type}.{role}" if by_role else f"{event.type}.{'MainArg' if main else 'SubArg'}"
                out[key].append((ex.spans[i].start, ex.spans[i].end))
        return out

    def f1(by_role: bool, main_only: bool) -> float:
        tp = n_pred = n_gold = 0
        for g, p in zip(gold, pred, strict=True):
            gg, pp = groups(g, by_role, main_only), groups(p, by_role, main_only)
            for key in set(gg) | set(pp):
                tp += sum((Counter(gg[key]) & Counter(pp[key])).values())
                n_pred, n_gold = n_pred + len(pp[key]), n_gold + len(gg[key])
        return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0

    return {
        "event_argument_f1": f1(True, False),
        "event_argument_id_f1": f1(False, False),
        "event_main_argument_f1": f1(True, True),
        "event_main_argument_id_f1": f1(False, True),
    }


def random_event_corpus(seed: int, n: int = 50) -> tuple[list[Example], list[Example]]:
    rng = np.random.default_rng(seed)
    text = "a b c d e f g h"
    roles = ["Subject", "Treatment", "Effect", "Treatment.Drug", "Subject.Age"]
    kinds = ["Adverse_event", "Potential_therapeutic_event"]

    def draw(base: Example | None) -> Example:
        spans = [Span(2 * k, 2 * k + 1, "x") for k in range(8)]
        events = []
        source = base.events if base is not None else [None] * int(rng.integers(1, 3))
        for old in source:
            kind = str(rng.choice(kinds)) if old is None or rng.random() < 0.15 else old.type
            trigger = int(rng.integers(0, 8)) if old is None or rng.random() < 0.15 else old.trigger
            if old is None:
                args = tuple((str(rng.choice(roles)), int(rng.integers(0, 8))) for _ in range(int(rng.integers(1, 5))))
            else:
                args = tuple(
                    (
                        str(rng.choice(roles)) if rng.random() < 0.2 else role,
                        int(rng.integers(0, 8)) if rng.random() < 0.2 else i,
                    )
                    for role, i in old.args
                    if rng.random() < 0.85
                )
            events.append(Event(trigger, kind, args))
        return Example(text, spans=spans, events=events)

    gold = [draw(None) for _ in range(n)]
    return gold, [draw(g) for g in gold]


@pytest.mark.parametrize("seed", range(5))
def test_argument_scores_equal_phee_counting(seed: int) -> None:
    gold, pred = random_event_corpus(seed)
    scores = evaluate(gold, pred, bootstrap=0)
    for name, value in phee_scores(gold, pred).items():
        assert scores[name] == pytest.approx(value, abs=1e-12), name


# ---------------------------------------------------------------- frame accuracy

F1, F2 = "alice works at acme", "bob works for ibm"
FA, FC = at(F1, "alice", "per"), at(F1, "acme", "org")
FB, FI = at(F2, "bob", "per"), at(F2, "ibm", "org")


def test_frame_accuracy_with_a_relation_wrong() -> None:
    gold = [
        Example(F1, labels=["work"], spans=[FA, FC], relations=[Relation(0, 1, "works_for")]),
        Example(F2, labels=["work"], spans=[FB, FI], relations=[Relation(0, 1, "works_for")]),
        Example(F2, labels=["work"], spans=[FB, FI], relations=[]),
    ]
    pred = [
        Example(F1, labels=["work"], spans=[FA, FC], relations=[Relation(0, 1, "works_for")]),  # all right
        Example(F2, labels=["work"], spans=[FB, FI], relations=[Relation(0, 1, "located_in")]),  # relation wrong
        Example(F2, labels=["work"], spans=[FB, FI], relations=[Relation(1, 0, "works_for")]),  # spurious relation
    ]
    # labels and spans are right everywhere; relations only in the first -> 1/3
    assert frame_accuracy(gold, pred) == 1 / 3
    scores = evaluate(gold, pred, bootstrap=0)
    assert scores["frame_accuracy"] == 1 / 3 and scores["text_accuracy"] == 1.0 and scores["span_f1"] == 1.0
    # The same frames without relations anywhere in gold: relations are not part of the frame.
    bare = [Example(g.text, labels=g.labels, spans=g.spans) for g in gold]
    assert frame_accuracy(bare, pred) == 1.0


def test_frame_accuracy_with_an_argument_on_the_wrong_event() -> None:
    text = "x hit y and z hit w"
    hit1, hit2 = at(text, "hit", "Trigger"), Span(14, 17, "Trigger")
    x, y, z, w = (at(text, c, "arg") for c in "xyzw")
    spans = [hit1, hit2, x, y, z, w]
    gold = Example(
        text,
        labels=["attack"],
        spans=spans,
        events=[
            Event(0, "Attack", (("Attacker", 2), ("Target", 3))),
            Event(1, "Attack", (("Attacker", 4), ("Target", 5))),
        ],
    )
    swapped = Example(
        text,
        labels=["attack"],
        spans=spans,
        events=[
            Event(0, "Attack", (("Attacker", 2), ("Target", 5))),
            Event(1, "Attack", (("Attacker", 4), ("Target", 3))),
        ],
    )
    # PHEE pools a sentence's arguments by event type: every argument score is perfect ...
    scores = evaluate([gold], [swapped], bootstrap=0)
    assert scores["event_argument_f1"] == 1.0 and scores["event_trigger_f1"] == 1.0
    # ... but the frame needs each argument on its own event.
    assert scores["frame_accuracy"] == 0.0
    assert evaluate([gold], [gold], bootstrap=0)["frame_accuracy"] == 1.0


def test_frame_levels_follow_the_corpus_rules() -> None:
    with_rel = Example(F1, labels=["work"], spans=[FA, FC], relations=[Relation(0, 1, "works_for")])
    plain = Example(F2, labels=["work"], spans=[FB, FI])
    levels = frame_levels(match_predictions([with_rel, plain], [with_rel, plain]))
    assert levels == FrameLevels(relations=True)
    # The example without gold relations is still held to "no relations".
    spurious = Example(F2, labels=["work"], spans=[FB, FI], relations=[Relation(0, 1, "works_for")])
    assert is_frame_correct(plain, spurious) and not is_frame_correct(plain, spurious, levels)
    assert frame_accuracy([with_rel, plain], [with_rel, spurious]) == 0.5


def test_frame_needs_label_attributes_when_the_gold_has_them() -> None:
    gold = Example(F1, labels=["work"], label_attrs={"work": {"polarity": "positive"}}, spans=[FA, FC])
    wrong = Example(F1, labels=["work"], label_attrs={"work": {"polarity": "negative"}}, spans=[FA, FC])
    missing = Example(F1, labels=["work"], spans=[FA, FC])
    assert frame_accuracy([gold, gold, gold], [gold, wrong, missing]) == 1 / 3


def test_data_without_relations_events_or_attributes_keeps_the_classic_frame() -> None:
    gold = [Example(F1, labels=["work"], spans=[FA, FC]), Example(F2, labels=["work"], spans=[FB])]
    pred = [Example(F1, labels=["work"], spans=[FC, FA]), Example(F2, labels=["other"], spans=[FB])]
    pairs = match_predictions(gold, pred)
    assert frame_levels(pairs) == FrameLevels()
    scores = evaluate(gold, pred, bootstrap=50)
    classic = [set(g.labels) == set(p.labels) and Counter(g.spans) == Counter(p.spans) for g, p in pairs]
    assert scores["frame_accuracy"] == sum(classic) / len(classic) == 0.5
    assert all(scores[k] is None and k not in scores["ci"] for k in (*RELATION_KEYS, *EVENT_KEYS))
    assert "relations" not in scores["per_label"]


# ---------------------------------------------------------------- intervals and the vectorised bootstrap


def mixed_corpus() -> tuple[list[Example], list[Example]]:
    """The hand-made relation and event sentences, each in four copies (no ids: paired by position)."""
    return (RE_GOLD + EV_GOLD) * 4, (RE_PRED + EV_PRED) * 4


def test_intervals_contain_the_point_values() -> None:
    gold, pred = mixed_corpus()
    scores = evaluate(gold, pred, bootstrap=500, seed=2)
    assert set(scores["ci"]) == {k for k in METRIC_KEYS if scores[k] is not None}
    for name in (*RELATION_KEYS, *EVENT_KEYS):
        low, high = scores["ci"][name]
        assert 0.0 <= low <= scores[name] <= high <= 1.0, name


def test_vectorised_bootstrap_equals_naive_rescoring() -> None:
    gold, pred = mixed_corpus()
    samples = bootstrap_distribution(build_table(match_predictions(gold, pred)), n_resamples=25, seed=4)
    draws = np.random.default_rng(4).integers(0, len(gold), size=(25, len(gold)))
    for r, idx in enumerate(draws):
        naive = evaluate([gold[i] for i in idx], [pred[i] for i in idx], bootstrap=0)
        for name in (*RELATION_KEYS, *EVENT_KEYS, "frame_accuracy"):
            expected = np.nan if naive[name] is None else naive[name]
            assert samples[name][r] == pytest.approx(expected, abs=1e-12, nan_ok=True), (r, name)
