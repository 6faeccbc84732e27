"""SegmentationModel: masks at input size for any size, save/load parity, card verification."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from segmentation_images import defect_images

from models import unet_model
from models.card import ModelCardError
from models.unet import UNet, UNetConfig
from models.unet_model import SegmentationModel, normalise


@pytest.fixture
def model() -> SegmentationModel:
    torch.manual_seed(0)
    module = UNet(UNetConfig(width=4, depth=3))
    for parameter in module.parameters():  # non-trivial BN statistics too, so parity means something
        parameter.data.normal_(0, 0.3)
    return SegmentationModel(module, threshold=0.5, card={"training": {}}, device="cpu")


def test_masks_come_back_at_each_input_size(model: SegmentationModel) -> None:
    """Odd and mixed sizes in one call give boolean masks of exactly those sizes, in input order."""
    rng = np.random.default_rng(0)
    images = [rng.random(shape, dtype=np.float32) for shape in [(37, 50), (8, 8), (37, 50), (64, 33)]]
    masks = model.segment(images)
    assert [mask.shape for mask in masks] == [image.shape for image in images]
    assert all(mask.dtype == bool for mask in masks)


def test_an_image_is_segmented_the_same_alone_or_in_a_batch(model: SegmentationModel) -> None:
    """Batching is an implementation detail: the probabilities do not depend on the neighbours."""
    images, _ = defect_images(3, seed=0)
    together = model.probabilities(images)
    alone = model.probabilities([images[1]])[0]
    np.testing.assert_allclose(together[1], alone, atol=1e-5)


def test_save_load_parity(model: SegmentationModel, tmp_path: Path) -> None:
    """A reloaded model gives the same probabilities, version and threshold as the saved one."""
    images, _ = defect_images(2, seed=1)
    model.save(tmp_path / "unet")
    loaded = SegmentationModel.load(tmp_path / "unet", device="cpu")
    assert (loaded.version, loaded.threshold) == (model.version, model.threshold)
    for before, after in zip(model.probabilities(images), loaded.probabilities(images), strict=True):
        np.testing.assert_array_equal(before, after)
    card = json.loads((tmp_path / "unet" / "card.json").read_text())
    assert card["kind"] == "unet" and card["architecture"] == {"width": 4, "depth": 3}


def test_load_refuses_changed_weights(model: SegmentationModel, tmp_path: Path) -> None:
    """Weights that do not match the card's hash never segment anything."""
    model.save(tmp_path / "unet")
    state = torch.load(tmp_path / "unet" / "weights.pt", weights_only=True)
    state["head.bias"] += 1
    torch.save(state, tmp_path / "unet" / "weights.pt")
    with pytest.raises(ModelCardError, match="does not match the card"):
        SegmentationModel.load(tmp_path / "unet")


def test_normalise_removes_exposure_and_gain() -> None:
    """The same surface under another exposure and gain gives the same model input."""
    image = np.random.default_rng(2).random((16, 16), dtype=np.float32) * 0.3
    np.testing.assert_allclose(normalise(image), normalise(0.2 + 2 * image), atol=1e-5)


def test_segment_rejects_colour_arrays(model: SegmentationModel) -> None:
    """Models take gray [H, W] images; an RGB array is a caller error."""
    with pytest.raises(ValueError, match=r"must be gray \[H, W\]"):
        model.segment([np.zeros((8, 8, 3), dtype=np.float32)])


def test_a_large_image_is_segmented_in_tiles_within_the_pixel_budget(
    model: SegmentationModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the whole-image limit the tiles run within the per-pass budget and join without seams."""
    rng = np.random.default_rng(3)
    image = rng.random((150, 170), dtype=np.float32)  # no tile grid fits it exactly
    whole = model.probabilities([image])[0]
    passes: list[int] = []
    forward = model.module.forward

    def counted(x: torch.Tensor) -> torch.Tensor:
        passes.append(x.shape[0] * x.shape[2] * x.shape[3])
        return forward(x)

    monkeypatch.setattr(model.module, "forward", counted)
    monkeypatch.setattr(unet_model, "WHOLE_PIXELS", 64 * 64)
    monkeypatch.setattr(unet_model, "PASS_PIXELS", 3 * 96 * 96)
    monkeypatch.setattr(unet_model, "TILE", 64)
    monkeypatch.setattr(unet_model, "TILE_MARGIN", 16)
    tiled = model.probabilities([image])[0]
    assert tiled.shape == image.shape
    assert passes == [3 * 96 * 96] * 3  # 3 x 3 tiles of 96 x 96, three per pass
    assert float(np.abs(tiled - whole).max()) < 1e-3, float(np.abs(tiled - whole).max())
