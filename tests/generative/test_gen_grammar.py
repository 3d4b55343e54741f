"""The grammar automaton on hand-written token sequences (a fake segment encoding, one id per piece)."""

from __future__ import annotations

from mrekit.generative.grammar import INF, Grammar, SourceTokens
from mrekit.generative.spec import OutputSpec

EOS = 1
CODES = {
    "Play": [10],
    "PlayMusic": [10, 11],
    "GetWeather": [12],
    ",": [13],
    "/NER/": [14, 15, 14],
    ":": [16],
    ";": [17],
    "artist": [18],
    "city": [19],
    "<": [20],
    ">": [21],
    "NER": [15],
    "positive": [22],
    "negative": [23],
    "born_in": [24],
    "Attack": [25],
    "Target": [26],
}
# "play muse": tokens play, " ", muse
PLAY, SPACE, MUSE = 30, 31, 32
SOURCE = ([PLAY, SPACE, MUSE], [(0, 4), (4, 5), (5, 9)], "play muse")
TASK = [14, 15, 14]


def grammar(**spec) -> Grammar:
    spec.setdefault("labels", ["GetWeather", "Play", "PlayMusic"])
    spec.setdefault("types", ["artist", "city"])
    return Grammar(OutputSpec(**spec), CODES.__getitem__, EOS)


def auto(g: Grammar, source=SOURCE):
    return g.automaton(*source)


def test_a_full_output_is_accepted_and_each_step_was_allowed():
    a = auto(grammar())
    tokens = [10, 11, *TASK, 16, 18, 17, PLAY, SPACE, MUSE, 16, 19, 17, MUSE]
    state = a.start()
    for token in tokens:
        assert token in a.allowed(state)
        state = a.advance(state, token)
    assert a.accepts(state) and EOS in a.allowed(state)


def test_labels_come_from_the_label_trie_and_a_prefix_label_keeps_both_paths():
    a = auto(grammar())
    assert a.allowed(a.start()) == {10, 12}
    after_play = a.run([10])
    assert a.allowed(after_play) == {11, 14}  # "PlayMusic" goes on, "Play" may end
    assert not a.advance(a.start(), 99)  # an unknown label token leads nowhere


def test_single_label_then_the_task_marker_then_items_or_end():
    a = auto(grammar())
    assert a.allowed(a.run([12])) == {14}  # no ',' : training data had one label each
    assert a.allowed(a.run([12, 14, 15])) == {14}
    assert a.allowed(a.run([12, *TASK])) == {16, EOS}


def test_entity_is_a_run_of_the_input_tokens():
    a = auto(grammar())
    state = a.run([12, *TASK, 16, 18, 17])
    assert a.allowed(state) == {PLAY, MUSE}  # never starts with whitespace
    state = a.advance(state, PLAY)
    assert a.allowed(state) == {SPACE, 16, EOS}  # go on, start an item, or end
    state = a.advance(state, SPACE)
    assert a.allowed(state) == {MUSE}  # never ends on whitespace
    assert not a.accepts(state)
    assert not a.advance(a.run([12, *TASK, 16, 18, 17, MUSE]), PLAY)  # "muse play" is not in the text


def test_repeated_tokens_track_every_position():
    a = auto(grammar(), ([7, 8, 9, 8, 7], [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], "a b a"))
    state = a.run([12, *TASK, 16, 18, 17, 7])
    assert a.allowed(state) == {8, 16, EOS}
    assert a.allowed(a.advance(state, 8)) == {9}  # "a b" then only "a" (position 2)
    assert a.accepts(a.run([12, *TASK, 16, 18, 17, 7, 8, 9]))


def test_semicolons_never_and_colons_only_in_plain_span_entities():
    text = "a;b 10:30"
    source = ([40, 41, 42, 43, 44, 45, 46], [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6), (6, 7), (7, 9)], text)
    a = auto(grammar(), source)
    state = a.run([12, *TASK, 16, 18, 17])
    assert 41 not in a.allowed(state) and 45 not in a.allowed(state)  # no entity starts with ';' or ':'
    assert a.allowed(a.advance(state, 40)) == {16, EOS}  # "a" cannot run on into ";"
    assert a.accepts(a.run([12, *TASK, 16, 18, 17, 44, 45, 46]))  # "10:30"
    with_attrs = auto(grammar(attr_values={"polarity": ["negative", "positive"]}), source)
    assert 45 not in with_attrs.allowed(with_attrs.run([12, *TASK, 16, 18, 17, 44]))


def test_attributes_follow_the_entity():
    a = auto(grammar(attr_values={"polarity": ["negative", "positive"]}))
    state = a.run([12, *TASK, 16, 18, 17, MUSE])
    assert a.allowed(state) == {17, 16, EOS}
    assert a.allowed(a.advance(state, 17)) == {22, 23}
    assert a.accepts(a.run([12, *TASK, 16, 18, 17, MUSE, 17, 22]))


def test_multi_label_bounds():
    a = auto(grammar(min_labels=1, max_labels=2))
    assert a.accepts(a.run([12, 13, 10, 11, *TASK]))
    assert 13 not in a.allowed(a.run([12, 13, 10, 11]))  # at most two labels
    assert a.allowed(a.start()) == {10, 12}  # at least one
    optional = auto(grammar(min_labels=0, max_labels=1))
    assert optional.allowed(optional.start()) == {10, 12, 14}


def test_giellm_labels_in_angle_brackets():
    a = auto(grammar(format="giellm"))
    assert a.allowed(a.start()) == {20}
    assert a.accepts(a.run([20, 12, 21, 15, 16, 18, 17, MUSE]))


def test_conditioned_grammars_leave_the_given_level_out():
    text_given = auto(grammar(condition="text"))
    assert text_given.allowed(text_given.start()) == {14}
    word_given = auto(grammar(condition="word"))
    assert word_given.allowed(word_given.run([12, *TASK])) == {EOS}


def test_relations_and_events():
    rel = auto(grammar(kind="relations", types=["born_in"], labels=[]))
    assert rel.accepts(rel.run([*TASK, 16, PLAY, 17, 24, 17, MUSE]))
    assert rel.allowed(rel.run([*TASK, 16])) == {PLAY, MUSE}
    events = auto(grammar(kind="events", types=["Attack"], roles=["Target"], labels=[]))
    assert events.accepts(events.run([*TASK, 16, 25, 17, PLAY, 17, 26, 17, MUSE, 17, 26, 17, PLAY]))


def test_byte_tokens_of_one_character_cannot_be_split():
    # "龍x": the character is three byte tokens sharing its offsets.
    source = ([50, 51, 52, 53], [(0, 1), (0, 1), (0, 1), (1, 2)], "龍x")
    src = SourceTokens(*source)
    assert src.can_start == [True, False, False, True] and src.can_end == [False, False, True, True]
    a = auto(grammar(), source)
    state = a.run([12, *TASK, 16, 18, 17, 50])
    assert a.allowed(state) == {51} and a.allowed(a.advance(state, 51)) == {52}


def test_budget_keeps_the_output_completable():
    a = auto(grammar())
    state = a.run([12, *TASK, 16, 18, 17])
    assert a.cost(state) == 1
    assert a.allowed(state, budget=1) == {PLAY, MUSE}  # one token left: a one-token entity
    state = a.advance(state, PLAY)
    assert a.allowed(state, budget=1) == {EOS}  # no room for " muse" or a new item
    assert a.allowed(a.run([12, *TASK]), budget=3) == {EOS}  # an item is 4 tokens: ":" type ";" entity
    assert a.allowed(a.run([12, *TASK]), budget=4) == {16, EOS}


def test_no_entity_possible_in_an_empty_text():
    a = auto(grammar(), ([], [], ""))
    assert a.source.entity_min == INF
    assert a.allowed(a.run([12, *TASK])) == {EOS}


def test_dead_state_allows_only_the_end():
    a = auto(grammar())
    dead = a.advance(a.start(), 99)
    assert not dead and a.allowed(dead) == {EOS}
