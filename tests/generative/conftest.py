from __future__ import annotations

import contextlib

import pytest
import torch

from mrekit import Example

#: A T5 small enough to train for a few steps in a second.
TINY = {"vocab_size": 400, "d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "dropout": 0.0}


@contextlib.contextmanager
def one_thread():
    # The machine runs other jobs, where one torch thread is much faster than two contending ones;
    # restored afterwards so that tests elsewhere keep torch's default.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def tiny() -> dict:
    """Size of the tiny from-scratch T5."""
    return dict(TINY)


@pytest.fixture(scope="session")
def gen_train() -> list[Example]:
    """24 bundled SNIPS training examples (CC0)."""
    from mrekit.datasets import load_builtin

    return load_builtin("snips", "train")[:24]


@pytest.fixture(scope="session")
def untrained(gen_train):
    """An untrained tiny T5 with its tokenizer and output format: decodes, knows nothing."""
    from mrekit.generative import GenerativeModel

    with one_thread():
        return GenerativeModel(scratch=TINY).initialize(gen_train)


@pytest.fixture(scope="session")
def fitted(gen_train, tmp_path_factory):
    """A tiny T5 trained for a few steps, and its run folder."""
    from mrekit.generative import GenerativeArguments, GenerativeModel

    out = tmp_path_factory.mktemp("gen-run")
    args = GenerativeArguments(epochs=3, batch_size=8, learning_rate=3e-3, max_target_length=40, seed=1)
    with one_thread():
        model = GenerativeModel(scratch=TINY).fit(gen_train, gen_train[:6], args=args, output_dir=out)
    return model, out
