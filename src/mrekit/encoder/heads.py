"""Prediction heads: text head, tag head and a linear-chain CRF (its BIO constraints come from :mod:`mrekit.tags`)."""

from __future__ import annotations

import torch
from torch import nn

from mrekit.tags import bio_transitions


class CRF(nn.Module):
    """Linear-chain CRF over masked positions, with BIO constraints added to the learned transitions."""

    def __init__(self, tags: list[str]) -> None:
        super().__init__()
        trans, start = (torch.from_numpy(a) for a in bio_transitions(tags))
        self.transitions = nn.Parameter(torch.zeros(len(tags), len(tags)))
        self.start = nn.Parameter(torch.zeros(len(tags)))
        self.register_buffer("trans_constraint", trans, persistent=False)
        self.register_buffer("start_constraint", start, persistent=False)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective (transition, start) scores."""
        return self.transitions + self.trans_constraint, self.start + self.start_constraint

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the gold paths of rows that have any tag."""
        rows = (tags != -100).any(dim=1)
        if not rows.any():
            return emissions.sum() * 0.0
        emissions, tags, mask = emissions[rows], tags[rows].clamp(min=0), mask[rows]
        trans, start = self.scores()
        log_z = self._partition(emissions, mask, trans, start)
        gold = self._path_score(emissions, tags, mask, trans, start)
        return (log_z - gold).mean()

    @staticmethod
    def _partition(emissions, mask, trans, start) -> torch.Tensor:
        batch, length, k = emissions.shape
        alpha = emissions.new_zeros(batch, k)
        started = torch.zeros(batch, dtype=torch.bool, device=emissions.device)
        for t in range(length):
            step = mask[:, t]
            moved = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1)
            new = torch.where((step & ~started).unsqueeze(1), start.unsqueeze(0), moved) + emissions[:, t]
            alpha = torch.where(step.unsqueeze(1), new, alpha)
            started = started | step
        return torch.logsumexp(alpha, dim=1)

    @staticmethod
    def _path_score(emissions, tags, mask, trans, start) -> torch.Tensor:
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        score = (emit * mask).sum(dim=1)
        first = mask.float().argmax(dim=1)
        score = score + start[tags.gather(1, first.unsqueeze(1)).squeeze(1)]
        # Real tokens are contiguous, so consecutive masked positions are consecutive tokens.
        pairs = mask[:, 1:] & mask[:, :-1]
        moves = trans[tags[:, :-1], tags[:, 1:]]
        return score + (moves * pairs).sum(dim=1)


class TagHead(nn.Module):
    """Token classifier over encoder states, optionally with extra per-text features."""

    def __init__(self, hidden: int, n_tags: int, extra: int = 0, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden + extra, n_tags)

    def forward(self, states: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        if extra is not None:
            states = torch.cat([states, extra.unsqueeze(1).expand(-1, states.size(1), -1)], dim=-1)
        return self.proj(self.dropout(states))


class TextHead(nn.Module):
    """Text classifier over a pooled representation."""

    def __init__(self, in_dim: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_dim, n_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(pooled))


def masked_mean(states: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean of token states; ``weights`` is ``(batch, length)``."""
    weights = weights.unsqueeze(-1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-6)
