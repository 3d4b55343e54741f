from __future__ import annotations

import itertools

import torch

from mrekit.encoder.heads import CRF
from mrekit.tags import bio_transitions
from mrekit.tags import viterbi as np_viterbi


def viterbi(emissions, mask, trans, start):
    return torch.from_numpy(np_viterbi(emissions.numpy(), mask.numpy(), trans.numpy(), start.numpy()))


TAGS = ["O", "B-a", "I-a", "B-b", "I-b"]


def brute_force(emissions, trans, start):
    best, best_path = None, None
    for path in itertools.product(range(len(TAGS)), repeat=emissions.shape[0]):
        score = start[path[0]] + emissions[0, path[0]]
        for t in range(1, len(path)):
            score = score + trans[path[t - 1], path[t]] + emissions[t, path[t]]
        if best is None or score > best:
            best, best_path = score, path
    return list(best_path)


def test_constrained_viterbi_matches_brute_force_and_skips_special_tokens():
    torch.manual_seed(0)
    trans, start = (torch.from_numpy(a) for a in bio_transitions(TAGS))
    for _ in range(20):
        emissions = torch.randn(1, 6, len(TAGS))
        mask = torch.tensor([[False, True, True, True, True, False]])  # [CLS] ... [SEP]
        path = viterbi(emissions, mask, trans, start)[0].tolist()
        assert path[0] == 0 and path[-1] == 0
        assert path[1:5] == brute_force(emissions[0, 1:5], trans, start)


def test_viterbi_never_starts_or_continues_a_span_wrongly():
    trans, start = (torch.from_numpy(a) for a in bio_transitions(TAGS))
    # I-a scores highest everywhere, but I-a cannot start a text or follow O.
    emissions = torch.full((1, 3, len(TAGS)), -5.0)
    emissions[0, :, 2] = 0.0
    emissions[0, :, 1] = -1.0
    path = viterbi(emissions, torch.ones(1, 3, dtype=torch.bool), trans, start)[0].tolist()
    assert [TAGS[i] for i in path] == ["B-a", "I-a", "I-a"]


def test_viterbi_batches_rows_of_different_lengths():
    trans, start = (torch.from_numpy(a) for a in bio_transitions(TAGS))
    emissions = torch.randn(2, 5, len(TAGS))
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    both = viterbi(emissions, mask, trans, start)
    alone = viterbi(emissions[1:, :2], mask[1:, :2], trans, start)
    assert both[1, :2].tolist() == alone[0].tolist() and both[1, 2:].tolist() == [0, 0, 0]


def test_crf_nll_equals_brute_force_partition():
    torch.manual_seed(1)
    crf = CRF(TAGS)
    with torch.no_grad():
        crf.transitions.normal_()
        crf.start.normal_()
    emissions = torch.randn(1, 3, len(TAGS))
    gold = torch.tensor([[1, 2, 0]])
    trans, start = crf.scores()
    scores = []
    for path in itertools.product(range(len(TAGS)), repeat=3):
        s = start[path[0]] + emissions[0, 0, path[0]]
        for t in (1, 2):
            s = s + trans[path[t - 1], path[t]] + emissions[0, t, path[t]]
        scores.append(s)
    log_z = torch.logsumexp(torch.stack(scores), dim=0)
    gold_score = start[1] + emissions[0, 0, 1] + trans[1, 2] + emissions[0, 1, 2] + trans[2, 0] + emissions[0, 2, 0]
    nll = crf.nll(emissions, gold, torch.ones(1, 3, dtype=torch.bool))
    assert torch.allclose(nll, log_z - gold_score, atol=1e-4)


def test_crf_ignores_rows_without_word_level():
    crf = CRF(TAGS)
    emissions = torch.randn(2, 3, len(TAGS))
    tags = torch.tensor([[1, 2, 0], [-100, -100, -100]])
    mask = torch.ones(2, 3, dtype=torch.bool)
    assert torch.allclose(crf.nll(emissions, tags, mask), crf.nll(emissions[:1], tags[:1], mask[:1]))
