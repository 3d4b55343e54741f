from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def snips_mini():
    """12 SNIPS test sentences (CC0) as examples."""
    from mrekit.formats import bio

    return list(bio.read(FIXTURES / "bio_mini"))


@pytest.fixture(scope="session")
def ja_examples():
    """8 Stockmark sentences (CC BY-SA 3.0), spans only."""
    from mrekit.formats import jsonl

    return list(jsonl.read(FIXTURES / "ja_ner.jsonl"))


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory, snips_mini, ja_examples):
    """A tiny random BERT with a WordPiece vocabulary trained on the fixture texts."""
    from mrekit.encoder.backbone import make_tiny_encoder

    texts = [ex.text for ex in snips_mini + ja_examples]
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"), texts)
