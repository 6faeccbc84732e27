"""Adaptive threshold strategies over anomaly scores: `quantile`, `ewma` and `pot` (SPOT).

Every strategy is fitted on normal scores (`fit`), follows the stream of normal scores (`update`)
and exposes its current `value` with the `parameters()` stored beside each value in SQL. The
detector keeps one strategy per asset; `make_threshold` picks it by `settings.method`.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

import numpy as np

from monitor.settings import ThresholdSettings

logger = logging.getLogger(__name__)

MIN_FIT_SCORES = 10
MAX_PEAKS = 1000  # streaming POT keeps the latest peaks only: bounded memory and refit time


class ThresholdStrategy:
    """Base of the strategies: subclasses register themselves by `name`."""

    name: ClassVar[str]
    registry: ClassVar[dict[str, type[ThresholdStrategy]]] = {}
    value: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ThresholdStrategy.registry[cls.name] = cls

    @classmethod
    def from_settings(cls, settings: ThresholdSettings) -> ThresholdStrategy:
        raise NotImplementedError

    def fit(self, scores: np.ndarray) -> None:
        raise NotImplementedError

    def update(self, score: float) -> None:
        """Take one more normal score into account. The caller passes every score outside alerts,
        isolated exceedances included: leaving out scores above the threshold would cut the tail
        that the threshold is estimated from, and pull it down a little more with every refit."""
        raise NotImplementedError

    def parameters(self) -> dict[str, Any]:
        raise NotImplementedError


def _clean(scores: np.ndarray, strategy: str) -> np.ndarray:
    """Finite scores as float64; none at all is an error the caller must handle."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError(f"{strategy} threshold needs finite scores, got none")
    return values


def _too_few(values: np.ndarray) -> str | None:
    """Why `values` support no estimate (a model trained on a handful of images), or None."""
    return f"only {len(values)} scores" if len(values) < MIN_FIT_SCORES else None


def _degenerate(values: np.ndarray, strategy: str, why: str) -> float:
    """Fallback for calibration data that supports no estimate: the highest normal score."""
    logger.warning(
        "%s threshold calibrated on degenerate scores (%s); using the highest normal score", strategy, why
    )
    return float(values.max())


class QuantileThreshold(ThresholdStrategy):
    """The q-quantile of normal scores times a margin; moves only when refitted (recalibration)."""

    name = "quantile"

    def __init__(self, q: float, margin: float = 1.0) -> None:
        self.q, self.margin = q, margin
        self.value = math.inf
        self.count = 0

    @classmethod
    def from_settings(cls, settings: ThresholdSettings) -> QuantileThreshold:
        return cls(settings.quantile.q, settings.quantile.margin)

    def fit(self, scores: np.ndarray) -> None:
        values = _clean(scores, self.name)
        self.count = len(values)
        why = _too_few(values) or ("all scores equal" if values.min() == values.max() else None)
        if why:
            self.value = self.margin * _degenerate(values, self.name, why)
            return
        self.value = self.margin * float(np.quantile(values, self.q))

    def update(self, score: float) -> None:
        """A fixed quantile changes only through `fit`: the scheduler refits it from recent scores."""

    def parameters(self) -> dict[str, Any]:
        return {"q": self.q, "margin": self.margin, "count": self.count}


class EwmaThreshold(ThresholdStrategy):
    """mean + k·std of normal scores, both exponentially weighted, so the level follows slow drift."""

    name = "ewma"

    def __init__(self, alpha: float, k: float) -> None:
        self.alpha, self.k = alpha, k
        self.mean, self.var = 0.0, 0.0
        self.value = math.inf

    @classmethod
    def from_settings(cls, settings: ThresholdSettings) -> EwmaThreshold:
        return cls(settings.ewma.alpha, settings.ewma.k)

    def fit(self, scores: np.ndarray) -> None:
        values = _clean(scores, self.name)
        self.mean, self.var = float(values.mean()), float(values.var())
        why = _too_few(values) or ("zero variance" if self.var == 0.0 else None)
        if why:
            self.value = _degenerate(values, self.name, why)
            return
        self.value = self.mean + self.k * math.sqrt(self.var)

    def update(self, score: float) -> None:
        delta = score - self.mean
        self.mean += self.alpha * delta
        self.var = (1.0 - self.alpha) * (self.var + self.alpha * delta * delta)
        self.value = self.mean + self.k * math.sqrt(self.var)

    def parameters(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "k": self.k, "mean": self.mean, "std": math.sqrt(self.var)}


def fit_gpd(excesses: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (shape γ, scale σ) of a generalised Pareto distribution over `excesses`.

    Grimshaw's reduction: with θ = γ/σ the likelihood depends on θ alone, γ(θ) = mean(log(1 + θy)),
    so the fit is a one-dimensional search over θ ∈ (-1/max y, ∞); a coarse grid finds the basin,
    a bounded scalar search refines it, and the exponential case (γ = 0) competes as well.
    """
    from scipy.optimize import minimize_scalar

    y = np.asarray(excesses, dtype=np.float64)
    y_max, y_mean = float(y.max()), float(y.mean())
    lower = -1.0 / y_max * (1.0 - 1e-6)
    upper = 2.0 * (y_mean - float(y.min())) / max(float(y.min()) ** 2, (y_mean * 1e-3) ** 2) + 1.0 / y_mean

    def negative_loglik(theta: float) -> float:
        if abs(theta) < 1e-12:
            return len(y) * (math.log(y_mean) + 1.0)
        gamma = float(np.log1p(theta * y).mean())
        sigma = gamma / theta
        if sigma <= 0:
            return math.inf
        return len(y) * (math.log(sigma) + gamma + 1.0)

    grid = np.concatenate(
        [np.linspace(lower, 0.0, 40, endpoint=False), np.geomspace(1e-6 / y_mean, upper, 60)]
    )
    values = [negative_loglik(float(t)) for t in grid]
    best = int(np.argmin(values))
    bracket = (float(grid[max(best - 1, 0)]), float(grid[min(best + 1, len(grid) - 1)]))
    refined = minimize_scalar(negative_loglik, bounds=bracket, method="bounded")
    theta = float(refined.x) if refined.fun < values[best] else float(grid[best])
    if negative_loglik(0.0) <= negative_loglik(theta):
        return 0.0, y_mean
    gamma = float(np.log1p(theta * y).mean())
    return gamma, gamma / theta


class PotThreshold(ThresholdStrategy):
    """SPOT (Siffer et al., KDD 2017): a GPD fitted to the peaks above an initial quantile t gives
    z_q = t + σ/γ · ((q·n/N_t)^-γ − 1), the score exceeded by a normal score with probability q.
    Streaming: each new normal score above t becomes a peak and the tail is refitted."""

    name = "pot"

    def __init__(self, risk: float, init_quantile: float) -> None:
        self.risk, self.init_quantile = risk, init_quantile
        self.t, self.gamma, self.sigma = 0.0, 0.0, 0.0
        self.n = 0
        self.peaks = np.zeros(0)
        self.value = math.inf
        self.fallback = False

    @classmethod
    def from_settings(cls, settings: ThresholdSettings) -> PotThreshold:
        return cls(settings.pot.risk, settings.pot.init_quantile)

    def fit(self, scores: np.ndarray) -> None:
        values = _clean(scores, self.name)
        self.n = len(values)
        self.t = float(np.quantile(values, self.init_quantile))
        self.peaks = values[values > self.t] - self.t
        self.fallback = len(self.peaks) < MIN_FIT_SCORES or np.ptp(self.peaks) == 0.0
        if self.fallback:
            why = _too_few(values) or f"{len(self.peaks)} peaks over the initial quantile"
            self.value = _degenerate(values, self.name, why)
            return
        self._refit()

    def _refit(self) -> None:
        self.fallback = False
        self.gamma, self.sigma = fit_gpd(self.peaks)
        ratio = self.risk * self.n / len(self.peaks)
        if abs(self.gamma) < 1e-9:
            z = self.t - self.sigma * math.log(ratio)
        else:
            z = self.t + self.sigma / self.gamma * (ratio ** (-self.gamma) - 1.0)
        self.value = max(z, self.t)

    def update(self, score: float) -> None:
        self.n += 1
        if score > self.t:
            self.peaks = np.append(self.peaks, score - self.t)
            if len(self.peaks) > MAX_PEAKS:
                # Forget the oldest peak and its share of n, so that N_t / n keeps its estimate.
                self.n -= round(self.n / len(self.peaks))
                self.peaks = self.peaks[1:]
            if len(self.peaks) >= MIN_FIT_SCORES and np.ptp(self.peaks) > 0.0:
                self._refit()

    def parameters(self) -> dict[str, Any]:
        return {
            "risk": self.risk,
            "init_quantile": self.init_quantile,
            "t": self.t,
            "gamma": self.gamma,
            "sigma": self.sigma,
            "n": self.n,
            "peaks": len(self.peaks),
            "fallback": self.fallback,
        }


def make_threshold(settings: ThresholdSettings) -> ThresholdStrategy:
    """The strategy named by `settings.method`, configured from its section; unknown names fail."""
    strategy = ThresholdStrategy.registry.get(settings.method)
    if strategy is None:
        valid = ", ".join(sorted(ThresholdStrategy.registry))
        raise ValueError(f"unknown threshold method {settings.method!r}; valid: {valid}")
    return strategy.from_settings(settings)


def calibration(settings: ThresholdSettings, scores: np.ndarray) -> dict[str, Any]:
    """The threshold the daemon starts a model at, from its training scores, as a model card records it."""
    strategy = make_threshold(settings)
    strategy.fit(scores)
    return {"method": strategy.name, "value": strategy.value, "parameters": strategy.parameters()}
