from __future__ import annotations

import pytest

from mrekit.encoder.backbone import load_encoder
from mrekit.errors import MrekitError


def test_load_encoder_keeps_all_layers_by_default(tiny_encoder):
    model, _ = load_encoder(tiny_encoder)
    assert model.config.num_hidden_layers == 2
    assert len(model.encoder.layer) == 2


def test_encoder_layers_keeps_the_bottom_layers_with_their_weights(tiny_encoder):
    full, _ = load_encoder(tiny_encoder)
    student, _ = load_encoder(tiny_encoder, num_layers=1)
    assert student.config.num_hidden_layers == 1
    assert len(student.encoder.layer) == 1
    full_state = full.encoder.layer[0].state_dict()
    for name, tensor in student.encoder.layer[0].state_dict().items():
        assert tensor.equal(full_state[name]), name


@pytest.mark.parametrize("layers", [0, 3])
def test_encoder_layers_out_of_range_is_refused(tiny_encoder, layers):
    with pytest.raises(MrekitError) as err:
        load_encoder(tiny_encoder, num_layers=layers)
    assert err.value.code == "E183"
    assert "between 1 and 2" in str(err.value)
