"""The delivered weights' moving average: it follows a short run, averages the end of a long one,
and a run resumed from its state averages exactly as an uninterrupted one."""

from __future__ import annotations

import torch
from torch import nn

from models.training import weight_average


def _walk(module: nn.Linear, average: torch.optim.swa_utils.AveragedModel, steps: range) -> None:
    """Set the single weight to 1, 2, 3 … (a run whose weights drift steadily) and average each step."""
    for step in steps:
        with torch.no_grad():
            module.weight.fill_(float(step))
        average.update_parameters(module)


def _averaged(average: torch.optim.swa_utils.AveragedModel) -> float:
    return float(next(average.module.parameters()).detach())


def test_a_short_run_delivers_its_last_weights() -> None:
    """With fewer steps than one averaging step (window x steps < 1), nothing older is mixed in."""
    module = nn.Linear(1, 1, bias=False)
    average = weight_average(module, 0.2)
    assert average is not None
    _walk(module, average, range(1, 5))
    assert _averaged(average) == 4.0


def test_a_long_run_is_averaged_over_its_last_share() -> None:
    """After 1,000 steps a 0.2 window weighs the last fifth or so: between steps 800 and 900 on
    average (the first, untrained weights carry no weight), not the last step's 1,000."""
    module = nn.Linear(1, 1, bias=False)
    average = weight_average(module, 0.2)
    assert average is not None
    _walk(module, average, range(1, 1001))
    assert 800.0 < _averaged(average) < 900.0


def test_a_resumed_average_continues_as_an_uninterrupted_one() -> None:
    """The state dict carries the step count, so the window keeps growing where it left off."""
    module = nn.Linear(1, 1, bias=False)
    straight = weight_average(module, 0.1)
    first, resumed = weight_average(module, 0.1), weight_average(module, 0.1)
    assert straight is not None and first is not None and resumed is not None
    _walk(module, straight, range(1, 301))
    _walk(module, first, range(1, 151))
    resumed.load_state_dict(first.state_dict())
    _walk(module, resumed, range(151, 301))
    assert _averaged(resumed) == _averaged(straight)


def test_window_zero_delivers_the_last_weights() -> None:
    """Averaging off: the trainer keeps the module's own weights."""
    assert weight_average(nn.Linear(1, 1), 0.0) is None
