"""The sensor autoencoder: training finds injected faults, save/load parity, card verification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.card import ModelCardError
from models.sensor_model import SCORE_CAP, Normalisation, SensorModel
from models.sensor_training import SensorTrainConfig, train_sensor_model
from models.training import EpochReport, FitConfig
from monitor.pipeline.windows import sliding_windows

CHANNELS = ["flow", "pressure", "vibration"]
FAST = SensorTrainConfig(window=16, fit=FitConfig(epochs=12, patience=4))


def plant(rows: int, seed: int) -> np.ndarray:
    """Three correlated periodic channels with noise, like a pump at steady load."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    phase = 2 * np.pi * t / 25
    base = np.stack([np.sin(phase), 0.8 * np.sin(phase + 0.5), np.cos(2 * phase)], axis=1)
    return 10 + base + 0.1 * rng.standard_normal((rows, 3))


@pytest.fixture(scope="module")
def model() -> SensorModel:
    return train_sensor_model(plant(600, seed=1), CHANNELS, FAST)


def test_scores_are_high_inside_injected_faults_only(model: SensorModel) -> None:
    """A step on one channel and a drift on another score above every normal window."""
    data = plant(900, seed=2)
    data[300:400, 1] += 1.5  # step
    data[600:700, 2] += np.linspace(0, 3, 100)  # drift
    scores, _ = model.score_windows(sliding_windows(data, model.window))
    last_row = np.arange(len(scores)) + model.window - 1
    normal = (last_row < 300) | ((last_row >= 400 + model.window) & (last_row < 600))
    ceiling = scores[normal].max()
    assert (scores[(last_row >= 305) & (last_row < 400)] > ceiling).mean() > 0.9
    assert (scores[(last_row >= 640) & (last_row < 700)] > ceiling).mean() > 0.9


def test_contributions_sum_to_score_and_name_the_faulty_channel(model: SensorModel) -> None:
    """Each row of contributions sums to its score; the stepped channel dominates."""
    data = plant(200, seed=3)
    data[100:, 1] += 2.0
    scores, contributions = model.score_windows(sliding_windows(data, model.window))
    np.testing.assert_allclose(contributions.sum(axis=1), scores, rtol=1e-6)
    assert contributions[-1].argmax() == CHANNELS.index("pressure")


def test_reloaded_model_scores_identically(model: SensorModel, tmp_path: Path) -> None:
    """Save then load gives the same version and bit-identical scores."""
    model.save(tmp_path / "m")
    loaded = SensorModel.load(tmp_path / "m", device="cpu")
    windows = sliding_windows(plant(100, seed=4), model.window)
    assert loaded.version == model.version
    assert loaded.channels == CHANNELS
    np.testing.assert_array_equal(loaded.score_windows(windows)[0], model.score_windows(windows)[0])
    np.testing.assert_array_equal(loaded.training_scores, model.training_scores)


def test_load_rejects_weights_that_do_not_match_the_card(model: SensorModel, tmp_path: Path) -> None:
    """A weights file changed after saving fails the sha256 check with a clear message."""
    model.save(tmp_path / "m")
    weights = tmp_path / "m" / "weights.pt"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(ModelCardError, match="sha256 .* does not match"):
        SensorModel.load(tmp_path / "m")


def test_load_rejects_a_directory_without_card(tmp_path: Path) -> None:
    """A directory that is not a model says so."""
    with pytest.raises(ModelCardError, match="not a model directory"):
        SensorModel.load(tmp_path)


def test_same_seed_trains_the_same_model() -> None:
    """Training is deterministic for a seed, and reports every epoch to the callback."""
    reports: list[EpochReport] = []
    config = SensorTrainConfig(window=16, fit=FitConfig(epochs=2))
    first = train_sensor_model(plant(200, seed=5), CHANNELS, config, progress=reports.append)
    second = train_sensor_model(plant(200, seed=5), CHANNELS, config)
    assert first.version == second.version
    assert [report.epoch for report in reports] == [1, 2]


def test_score_windows_rejects_wrong_shape(model: SensorModel) -> None:
    """Windows of the wrong length or channel count are refused."""
    with pytest.raises(ValueError, match="windows must have shape"):
        model.score_windows(np.zeros((2, model.window, 2), dtype=np.float32))


def test_too_few_readings_fail_with_the_number_needed() -> None:
    """Training on fewer readings than windows need is a clear error."""
    with pytest.raises(ValueError, match="too few to train"):
        train_sensor_model(plant(30, seed=6), CHANNELS, FAST)


def test_slowly_drifting_channel_is_judged_by_shape_not_level() -> None:
    """A warming-up channel is level-free; a noisy stationary one is not."""
    rng = np.random.default_rng(7)
    data = np.stack(
        [np.linspace(20, 40, 400) + 0.05 * rng.standard_normal(400), rng.standard_normal(400)], axis=1
    )
    assert Normalisation.fit(data, window=32).level_free.tolist() == [True, False]


def test_a_missing_cuda_is_not_reported_as_a_broken_model(
    model: SensorModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading for CUDA where there is none says so, not "card and weights do not fit together"."""
    model.save(tmp_path / "model")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="^device cuda was asked for but CUDA is not available$") as raised:
        SensorModel.load(tmp_path / "model", device="cuda")
    assert not isinstance(raised.value, ModelCardError)


def test_a_window_the_float32_model_overflows_on_scores_the_cap_not_inf(model: SensorModel) -> None:
    """Values near float32's limits overflow the squared error: such a window scores the cap, a
    finite number that thresholds, alerts and their JSON can carry, and far above any normal score."""
    windows = np.zeros((2, model.window, len(model.channels)), dtype=np.float32)
    windows[1, 3, 0] = 3e38
    scores, contributions = model.score_windows(windows)
    assert np.isfinite(scores).all() and np.isfinite(contributions).all()
    assert scores[1] >= SCORE_CAP > scores[0]
