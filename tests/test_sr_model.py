"""SuperResolutionModel: upscaling any size, and a model directory that reloads identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sr_helpers import shapes_image

from models import sr_model
from models.card import ModelCardError
from models.sr_gan import Generator, GeneratorConfig
from models.sr_model import SuperResolutionModel


def _model(scale: int = 2) -> SuperResolutionModel:
    torch.manual_seed(0)
    generator = Generator(GeneratorConfig(scale=scale, width=8, blocks=1))
    with torch.no_grad():  # a non-trivial correction, so parity compares real outputs
        for parameter in generator.upsample.parameters():
            parameter.normal_(0.0, 0.05)
    return SuperResolutionModel(generator, {"metrics": {}}, device="cpu")


def test_upscale_keeps_order_and_scales_each_size() -> None:
    """Mixed sizes come back in input order, each scaled, in [0, 1]."""
    model = _model(scale=4)
    images = [shapes_image(0, 20), np.zeros((9, 13), np.float32), shapes_image(1, 20)]
    outputs = model.upscale(images)
    assert [o.shape for o in outputs] == [(80, 80), (36, 52), (80, 80)]
    assert all(o.dtype == np.float32 and o.min() >= 0.0 and o.max() <= 1.0 for o in outputs)
    np.testing.assert_allclose(outputs[2], model.upscale([images[2]])[0], atol=1e-5)


def test_save_load_parity(tmp_path: Path) -> None:
    """A reloaded model upscales exactly as the saved one did and keeps its version and scale."""
    model = _model()
    image = shapes_image(3, 24)
    model.save(tmp_path / "sr")
    loaded = SuperResolutionModel.load(tmp_path / "sr", device="cpu")
    assert (loaded.version, loaded.scale) == (model.version, 2)
    assert loaded.card["kind"] == "sr"
    np.testing.assert_array_equal(loaded.upscale([image])[0], model.upscale([image])[0])


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    """A weights file that does not match the card's hash is not loaded."""
    _model().save(tmp_path / "sr")
    with (tmp_path / "sr" / "weights.pt").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(ModelCardError, match="sha256"):
        SuperResolutionModel.load(tmp_path / "sr")


def test_colour_array_is_rejected() -> None:
    """Upscaling expects gray [H, W] arrays, as models.images loads them."""
    with pytest.raises(ValueError, match="gray"):
        _model().upscale([np.zeros((8, 8, 3), np.float32)])


def test_a_large_image_is_upscaled_in_tiles_without_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the whole-image limit, tiles with a margin give exactly the image the whole pass gives."""
    model = _model(scale=4)
    image = np.tile(shapes_image(5, 24), (3, 3))[:70, :50]
    whole = model.upscale([image])[0]
    monkeypatch.setattr(sr_model, "WHOLE_PIXELS", 64 * 64)
    monkeypatch.setattr(sr_model, "TILE", 24)
    monkeypatch.setattr(sr_model, "TILE_MARGIN", 8)
    tiled = model.upscale([image])[0]
    assert tiled.shape == whole.shape == (280, 200)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
