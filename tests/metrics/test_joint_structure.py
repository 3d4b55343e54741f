"""Hand-computed frame accuracy, relation and event scores."""

from __future__ import annotations

from mrekit.metrics import PRF, evaluate, frame_accuracy, is_frame_correct, structure_scores
from mrekit.schema import Event, Example, Relation, Span

TEXT = "what flights go to denver"  # flights = 5..12, denver = 19..25
FLIGHTS, DENVER = Span(5, 12, "what"), Span(19, 25, "city")


def frame(labels: list[str], spans: list[Span] | None) -> Example:
    return Example(TEXT, labels=labels, spans=spans)


def test_frame_accuracy_with_one_level_wrong() -> None:
    gold = [
        frame(["flight"], [DENVER]),
        frame(["flight"], [DENVER]),
        frame(["flight"], [DENVER]),
        frame(["flight"], [FLIGHTS, DENVER]),
        frame(["flight"], None),  # word level not annotated: no frame
    ]
    pred = [
        frame(["flight"], [DENVER]),  # both right
        frame(["airfare"], [DENVER]),  # label wrong, spans right
        frame(["flight"], [Span(19, 25, "state")]),  # label right, span type wrong
        frame(["flight"], [DENVER, FLIGHTS]),  # both right, spans in another order
        frame(["flight"], []),
    ]
    # Frames scored: the first four; right: 1st and 4th -> 2/4.
    assert frame_accuracy(gold, pred) == 0.5
    scores = evaluate(gold, pred, bootstrap=0)
    assert scores["frame_accuracy"] == 0.5
    # Text level sees all five, one wrong: 4/5. Spans: tp 1 + 1 + 0 + 2 = 4, pred 5, gold 5 -> 0.8.
    assert scores["text_accuracy"] == 0.8
    assert scores["span_f1"] == 0.8


def test_frame_needs_the_span_multiset() -> None:
    gold = frame(["flight"], [DENVER])
    assert not is_frame_correct(gold, frame(["flight"], [DENVER, DENVER]))
    assert not is_frame_correct(gold, frame(["flight"], None))
    assert is_frame_correct(gold, frame(["flight", "flight"], [DENVER]))  # labels compare as sets


def test_frame_accuracy_is_none_without_fully_annotated_examples() -> None:
    assert frame_accuracy([frame(["flight"], None)], [frame(["flight"], None)]) is None
    assert frame_accuracy([frame([], [DENVER])], [frame([], [DENVER])]) is None


# "alice works at acme in paris": alice 0..5, acme 15..19, acm 15..18, paris 23..28
RE_TEXT = "alice works at acme in paris"
ALICE, ACME, PARIS = Span(0, 5, "per"), Span(15, 19, "org"), Span(23, 28, "loc")


def test_relations_by_span_keys_not_indices() -> None:
    gold = Example(
        RE_TEXT,
        spans=[ALICE, ACME, PARIS],
        relations=[Relation(0, 1, "works_for"), Relation(1, 2, "located_in")],
    )
    pred = Example(
        RE_TEXT,
        spans=[PARIS, ALICE, ACME],  # another order: indices differ, keys do not
        relations=[
            Relation(1, 2, "works_for"),  # (alice, acme, works_for): right
            Relation(2, 0, "lives_in"),  # (acme, paris, lives_in): wrong label
            Relation(0, 7, "located_in"),  # dangling tail index: a prediction that matches nothing
        ],
    )
    # tp 1, pred 3, gold 2 -> P 1/3, R 1/2, F1 2/5
    assert structure_scores([gold], [pred])["relation"] == PRF(1 / 3, 0.5, 0.4, 1, 3, 2)
    assert evaluate([gold], [pred], bootstrap=0)["relation_f1"] == 0.4


def test_relation_needs_both_spans_exact() -> None:
    gold = Example(RE_TEXT, spans=[ALICE, ACME], relations=[Relation(0, 1, "works_for")])
    pred = Example(RE_TEXT, spans=[ALICE, Span(15, 18, "org")], relations=[Relation(0, 1, "works_for")])
    assert structure_scores([gold], [pred])["relation"].f1 == 0.0


# "troops attacked the town": troops 0..6, attacked 7..15, town 20..24, the town 16..24
EV_TEXT = "troops attacked the town"
TROOPS, ATTACKED, TOWN = Span(0, 6, "arg"), Span(7, 15, "trigger"), Span(20, 24, "arg")


def test_event_trigger_and_argument_scores() -> None:
    gold = Example(
        EV_TEXT,
        spans=[ATTACKED, TROOPS, TOWN],
        events=[Event(0, "Attack", (("Attacker", 1), ("Target", 2)))],
    )
    pred = Example(
        EV_TEXT,
        spans=[ATTACKED, TROOPS, Span(16, 24, "arg")],
        events=[
            Event(0, "Attack", (("Attacker", 1), ("Target", 2))),  # Attacker right; Target span too wide
            Event(1, "Die", ()),  # spurious trigger
        ],
    )
    scores = structure_scores([gold], [pred])
    # triggers: gold {(7, 15, Attack)}, pred {(7, 15, Attack), (0, 6, Die)}: tp 1, pred 2, gold 1 -> F1 2/3
    assert scores["event_trigger"] == PRF(0.5, 1.0, 2 / 3, 1, 2, 1)
    # arguments: gold 2, pred 2, tp 1 (Attacker) -> F1 1/2
    assert scores["event_argument"] == PRF(0.5, 0.5, 0.5, 1, 2, 2)
    assert scores["relation"] is None


def test_argument_needs_the_trigger_type() -> None:
    gold = Example(EV_TEXT, spans=[ATTACKED, TROOPS], events=[Event(0, "Attack", (("Attacker", 1),))])
    pred = Example(EV_TEXT, spans=[ATTACKED, TROOPS], events=[Event(0, "Die", (("Attacker", 1),))])
    scores = structure_scores([gold], [pred])
    assert scores["event_trigger"].f1 == 0.0 and scores["event_argument"].f1 == 0.0


def test_structure_levels_scored_on_every_word_level_example() -> None:
    with_rel = Example(RE_TEXT, spans=[ALICE, ACME], relations=[Relation(0, 1, "works_for")])
    without = Example("no relation here", spans=[])
    spurious = Example(
        "no relation here", spans=[Span(0, 2, "x"), Span(3, 11, "y")], relations=[Relation(0, 1, "works_for")]
    )
    # the second example has no gold relation, so its predicted one is a false positive:
    # tp 1, pred 2, gold 1 -> F1 2/3
    assert structure_scores([with_rel, without], [with_rel, spurious])["relation"].f1 == 2 / 3
    assert evaluate([without], [spurious], bootstrap=0)["relation_f1"] is None
