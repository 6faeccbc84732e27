"""Threshold strategies on score distributions whose quantiles are known."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from monitor.settings import EwmaSettings, PotSettings, QuantileSettings, ThresholdSettings
from monitor.thresholds import (
    MAX_PEAKS,
    EwmaThreshold,
    PotThreshold,
    QuantileThreshold,
    ThresholdStrategy,
    fit_gpd,
    make_threshold,
)

RNG = np.random.default_rng(0)


def test_quantile_is_the_exact_quantile_times_margin() -> None:
    """quantile = np.quantile(scores, q) * margin."""
    scores = RNG.normal(size=1000)
    strategy = QuantileThreshold(q=0.99, margin=1.5)
    strategy.fit(scores)
    assert strategy.value == pytest.approx(1.5 * np.quantile(scores, 0.99))
    assert strategy.parameters() == {"q": 0.99, "margin": 1.5, "count": 1000}


def test_pot_matches_the_true_quantile_of_exponential_scores() -> None:
    """SPOT's z_q for risk 1e-3 on Exp(1) is close to -ln(1e-3)."""
    strategy = PotThreshold(risk=1e-3, init_quantile=0.98)
    strategy.fit(RNG.exponential(size=50_000))
    assert strategy.value == pytest.approx(-math.log(1e-3), rel=0.1)
    assert abs(strategy.gamma) < 0.1


def test_pot_matches_the_true_quantile_of_normal_scores() -> None:
    """SPOT extrapolates beyond the sample: z for risk 1e-4 of N(0,1) is about 3.72."""
    strategy = PotThreshold(risk=1e-4, init_quantile=0.98)
    strategy.fit(RNG.normal(size=20_000))
    assert strategy.value == pytest.approx(3.72, rel=0.1)


def test_gpd_fit_recovers_a_heavy_tail() -> None:
    """Grimshaw's MLE finds shape and scale of GPD(γ=0.3, σ=2) samples."""
    uniform = RNG.uniform(size=20_000)
    samples = 2.0 / 0.3 * (uniform**-0.3 - 1.0)
    gamma, sigma = fit_gpd(samples)
    assert gamma == pytest.approx(0.3, abs=0.05)
    assert sigma == pytest.approx(2.0, rel=0.1)


def test_pot_streaming_update_keeps_the_threshold_near_the_truth() -> None:
    """Normal scores fed one by one add peaks and refit; the threshold stays near -ln(risk)."""
    strategy = PotThreshold(risk=1e-3, init_quantile=0.98)
    strategy.fit(RNG.exponential(size=5_000))
    before = strategy.parameters()["peaks"]
    for score in RNG.exponential(size=5_000):
        strategy.update(float(score))
    assert strategy.parameters()["peaks"] > before
    assert strategy.n == 10_000
    assert strategy.value == pytest.approx(-math.log(1e-3), rel=0.15)


def test_ewma_follows_a_level_shift() -> None:
    """After a level shift of the normal scores, mean + k·std moves to the new level."""
    strategy = EwmaThreshold(alpha=0.01, k=3.0)
    strategy.fit(RNG.normal(0.0, 1.0, size=1000))
    assert strategy.value == pytest.approx(3.0, abs=0.3)
    for score in RNG.normal(5.0, 1.0, size=2000):
        strategy.update(float(score))
    assert strategy.mean == pytest.approx(5.0, abs=0.3)
    assert strategy.value == pytest.approx(8.0, abs=0.6)


def test_degenerate_scores_warn_and_fall_back_to_the_highest_normal_score(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Constant training scores cannot be modelled: a warning, and the max is used."""
    with caplog.at_level(logging.WARNING):
        for strategy in (QuantileThreshold(0.99, 1.0), EwmaThreshold(0.01, 4.0), PotThreshold(1e-4, 0.98)):
            strategy.fit(np.full(100, 0.25))
            assert strategy.value == pytest.approx(0.25)
    assert caplog.text.count("degenerate") == 3


def test_pot_with_too_few_peaks_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    """Fewer than ten peaks over the initial quantile: the highest normal score, flagged as fallback."""
    strategy = PotThreshold(risk=1e-4, init_quantile=0.98)
    with caplog.at_level(logging.WARNING):
        strategy.fit(np.arange(100.0))
    assert strategy.value == 99.0
    assert strategy.parameters()["fallback"] is True
    assert "peaks over the initial quantile" in caplog.text


@pytest.mark.parametrize(
    "strategy",
    [QuantileThreshold(0.99), EwmaThreshold(0.01, 4.0), PotThreshold(1e-4, 0.98)],
    ids=lambda strategy: strategy.name,
)
def test_a_handful_of_scores_gives_the_highest_one(
    strategy: ThresholdStrategy, caplog: pytest.LogCaptureFixture
) -> None:
    """Five scores (an image model trained on five pictures) support no estimate: every method
    starts from the highest of them and says so, rather than refusing the model."""
    with caplog.at_level(logging.WARNING):
        strategy.fit(np.array([0.1, 0.4, 0.2, np.nan, 0.3, 0.25]))
    assert strategy.value == 0.4
    assert "only 5 scores" in caplog.text


def test_no_finite_scores_are_an_error() -> None:
    """Without a single finite score there is nothing to start from."""
    with pytest.raises(ValueError, match="needs finite scores, got none"):
        QuantileThreshold(0.99).fit(np.array([np.nan, np.inf]))


def test_make_threshold_picks_the_configured_method() -> None:
    """Each method name gives its strategy with the section's parameters."""
    settings = ThresholdSettings(
        method="ewma", ewma=EwmaSettings(alpha=0.2, k=2.0), quantile=QuantileSettings(), pot=PotSettings()
    )
    strategy = make_threshold(settings)
    assert isinstance(strategy, EwmaThreshold)
    assert (strategy.alpha, strategy.k) == (0.2, 2.0)
    assert isinstance(make_threshold(settings.model_copy(update={"method": "pot"})), PotThreshold)


def test_unknown_method_lists_the_valid_names() -> None:
    """A method name that no strategy has fails with the valid names."""
    settings = ThresholdSettings.model_construct(method="median")
    with pytest.raises(ValueError, match="unknown threshold method 'median'; valid: ewma, pot, quantile"):
        make_threshold(settings)


def test_pot_streaming_keeps_a_bounded_number_of_peaks() -> None:
    """A long stream keeps at most MAX_PEAKS peaks, and the threshold stays near the truth."""
    strategy = PotThreshold(risk=1e-3, init_quantile=0.9)
    strategy.fit(RNG.exponential(size=5_000))
    for score in RNG.exponential(size=20_000):
        strategy.update(float(score))
    assert len(strategy.peaks) == MAX_PEAKS
    assert strategy.value == pytest.approx(-math.log(1e-3), rel=0.15)
