"""The image anomaly model, trained on normal texture with synthetic anomalies only: a real blob it
never saw scores above normal images, where it is, and a reloaded model scores exactly like the
trained one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.card import ModelCardError
from models.checkpoint import Checkpoint
from models.image_ae import ImageAEConfig
from models.image_ae_model import ImageAnomalyModel, ScoringConfig
from models.image_ae_training import ImageTrainConfig, train_image_ae

SIZE = 64
BLOB = (40, 22)  # (row, column) of the injected defect


def texture(seed: int, size: int = SIZE) -> np.ndarray:
    """A normal surface: diagonal stripes plus fine noise around mid-gray."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    phase = rng.uniform(0, 2 * np.pi)
    stripes = 0.12 * np.sin(2 * np.pi * (rows + cols) / 12 + phase)
    return np.clip(0.5 + stripes + 0.03 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)


def with_blob(image: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    disk = (rows - BLOB[0]) ** 2 + (cols - BLOB[1]) ** 2 <= 16
    out = image.copy()
    out[disk] = 0.05
    return out


def tiny_config(epochs: int = 8) -> ImageTrainConfig:
    return ImageTrainConfig(
        architecture=ImageAEConfig(widths=(8, 16), latent=4, head_width=4, head_depth=2),
        scoring=ScoringConfig(size=SIZE, smooth_sigma=1.0),
        epochs=epochs,
        patch=32,
        patches_per_image=16,
        batch_size=8,
        learning_rate=3e-3,
        device="cpu",
    )


@pytest.fixture(scope="module")
def trained() -> ImageAnomalyModel:
    torch.set_num_threads(1)
    return train_image_ae([texture(seed) for seed in range(8)], tiny_config())


def test_injected_blob_scores_higher_and_peaks_at_the_blob(trained: ImageAnomalyModel) -> None:
    """A dark blob on unseen normal texture raises the score above every clean image's, and the
    heatmap's maximum lies on the blob."""
    clean = [texture(seed) for seed in range(100, 106)]
    defect = with_blob(texture(200))
    scores, heatmaps = trained.score_images([*clean, defect])
    assert scores[-1] > scores[:-1].max()
    peak = np.unravel_index(np.argmax(heatmaps[-1]), heatmaps[-1].shape)
    assert abs(peak[0] - BLOB[0]) <= 6 and abs(peak[1] - BLOB[1]) <= 6  # on the blob (radius 4) or its rim


def test_flip_averaging_scores_a_mirror_image_alike_and_still_finds_the_blob(
    trained: ImageAnomalyModel,
) -> None:
    """With `flip_average` a part photographed the other way round gets the same score and the
    mirrored heatmap (without it the head's answer depends on the orientation), and the blob
    still scores above clean images and peaks where it is."""
    plain = trained.scoring
    defect = with_blob(texture(200))
    mirrored = defect[:, ::-1].copy()
    clean = [texture(seed) for seed in range(100, 106)]
    unaveraged, _ = trained.score_images([defect, mirrored])
    trained.scoring = replace(plain, flip_average=True)
    try:
        scores, heatmaps = trained.score_images([defect, mirrored, *clean])
    finally:
        trained.scoring = plain
    assert unaveraged[0] != unaveraged[1]
    assert scores[0] == pytest.approx(scores[1], rel=1e-5)
    np.testing.assert_allclose(heatmaps[1], heatmaps[0][:, ::-1], atol=1e-5)
    assert scores[0] > scores[2:].max()
    peak = np.unravel_index(np.argmax(heatmaps[0]), heatmaps[0].shape)
    assert abs(peak[0] - BLOB[0]) <= 6 and abs(peak[1] - BLOB[1]) <= 6


def test_heatmaps_have_each_input_size(trained: ImageAnomalyModel) -> None:
    """Images of any size are scored; each heatmap has its image's shape."""
    images = [texture(1, 50)[:, :37], texture(2, 130)]
    scores, heatmaps = trained.score_images(images)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert [h.shape for h in heatmaps] == [(50, 37), (130, 130)]


def test_strips_from_line_scan_cameras_are_scored(trained: ImageAnomalyModel) -> None:
    """At 16:1 the short side shrinks to 4 working pixels, below what the autoencoder's deepest
    level needs; it is padded up for the network and the heatmap cropped back to each input."""
    strip = np.tile(texture(3), (1, 4))[:16]
    images = [strip, strip.T.copy()]
    assert trained.scoring.working_shape(strip.shape) == (4, SIZE)
    scores, heatmaps = trained.score_images(images)
    assert np.isfinite(scores).all()
    assert [h.shape for h in heatmaps] == [(16, 256), (256, 16)]


def test_training_on_strips_runs() -> None:
    """`train image-ae` accepts strips too: validation judges them whole, padded like in scoring."""
    strips = [np.tile(texture(seed), (1, 4))[:16] for seed in range(3)]
    model = train_image_ae(strips, tiny_config(epochs=1))
    assert np.isfinite(model.training_scores).all() and len(model.training_scores) == 3


def test_save_load_parity(trained: ImageAnomalyModel, tmp_path: Path) -> None:
    """A reloaded model has the same version and gives identical scores and heatmaps."""
    trained.save(tmp_path / "model")
    reloaded = ImageAnomalyModel.load(tmp_path / "model", device="cpu")
    images = [texture(7), with_blob(texture(8))]
    scores, heatmaps = trained.score_images(images)
    again, heatmaps_again = reloaded.score_images(images)
    assert reloaded.version == trained.version
    np.testing.assert_array_equal(scores, again)
    np.testing.assert_array_equal(heatmaps[1], heatmaps_again[1])
    np.testing.assert_array_equal(reloaded.training_scores, trained.training_scores)


def test_load_refuses_an_older_card_format(trained: ImageAnomalyModel, tmp_path: Path) -> None:
    """A format-1 directory (autoencoder alone) is refused with a hint to retrain, not half-loaded."""
    trained.save(tmp_path / "model")
    card = tmp_path / "model" / "card.json"
    card.write_text(card.read_text().replace('"format": 2', '"format": 1'))
    with pytest.raises(ModelCardError, match="card format 1.*retrain"):
        ImageAnomalyModel.load(tmp_path / "model")


def test_load_rejects_another_kind(trained: ImageAnomalyModel, tmp_path: Path) -> None:
    """A card of another kind is refused with a message naming both kinds."""
    trained.save(tmp_path / "model")
    card = tmp_path / "model" / "card.json"
    card.write_text(card.read_text().replace('"image-ae"', '"unet"'))
    with pytest.raises(ModelCardError, match="holds a 'unet' model, not 'image-ae'"):
        ImageAnomalyModel.load(tmp_path / "model")


def test_resume_continues_at_the_next_epoch(tmp_path: Path) -> None:
    """A run stopped after 2 epochs and resumed to 3 trains only epoch 3 and matches one 3-epoch run."""
    images = [texture(seed) for seed in range(4)]
    checkpoint = Checkpoint.in_folder(tmp_path)
    train_image_ae(images, tiny_config(epochs=2), checkpoint=checkpoint)
    assert (checkpoint.load() or (0, {}))[0] == 2
    epochs: list[int] = []
    resumed = train_image_ae(images, tiny_config(epochs=3), lambda r: epochs.append(r.epoch), checkpoint)
    straight = train_image_ae(images, tiny_config(epochs=3))
    assert epochs == [3]
    assert resumed.version == straight.version


def test_resume_refuses_another_configuration(tmp_path: Path) -> None:
    """A checkpoint from another architecture is not silently mixed in."""
    images = [texture(seed) for seed in range(3)]
    checkpoint = Checkpoint.in_folder(tmp_path)
    train_image_ae(images, tiny_config(epochs=1), checkpoint=checkpoint)
    other = ImageTrainConfig(
        architecture=ImageAEConfig(widths=(8, 8), latent=4, head_width=4, head_depth=2),
        scoring=ScoringConfig(size=SIZE),
        patch=32,
        epochs=2,
    )
    with pytest.raises(
        ValueError, match=r"different training setup \(checkpoint: architecture.widths \[8, 16\]"
    ):
        train_image_ae(images, other, checkpoint=checkpoint)


def test_resume_refuses_fewer_epochs_than_the_checkpoint_finished(tmp_path: Path) -> None:
    """A checkpoint after epoch 2 is not "resumed" into a 1-epoch model that has trained 2."""
    images = [texture(seed) for seed in range(2)]
    checkpoint = Checkpoint.in_folder(tmp_path)
    train_image_ae(images, tiny_config(epochs=2), checkpoint=checkpoint)
    with pytest.raises(
        ValueError, match=r"has finished epoch 2, more than --epochs 1; give --epochs 2 or more"
    ):
        train_image_ae(images, tiny_config(epochs=1), checkpoint=checkpoint)


def test_a_checkpoint_of_another_model_kind_is_refused(tmp_path: Path) -> None:
    """A U-Net's checkpoint left in the folder is one line, not KeyError: 'extra'."""
    checkpoint = Checkpoint.in_folder(tmp_path)
    checkpoint.save(1, {"module": {}, "optimiser": {}, "config": {"width": 8}, "progress": {"seconds": 1.0}})
    with pytest.raises(
        ValueError, match=r"different training setup \(it holds another kind of model\); delete it"
    ):
        train_image_ae([texture(0)], tiny_config(epochs=2), checkpoint=checkpoint)


def test_a_missing_cuda_is_not_reported_as_a_broken_model(
    trained: ImageAnomalyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading for CUDA where there is none says so, not "card and weights do not fit together"."""
    trained.save(tmp_path / "model")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="^device cuda was asked for but CUDA is not available$") as raised:
        ImageAnomalyModel.load(tmp_path / "model", device="cuda")
    assert not isinstance(raised.value, ModelCardError)
