"""`monitor train sensor` / `monitor score sensor` round trip and their one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import one_error_line

from monitor.cli.main import main


def write_csv(path: Path, rows: int, seed: int, sep: str = ",") -> Path:
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.arange(rows) / 16
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-01-01", periods=rows, freq="s").strftime("%Y-%m-%d %H:%M:%S"),
            "flow": np.sin(phase) + 0.1 * rng.standard_normal(rows),
            "pressure": np.cos(phase) + 0.1 * rng.standard_normal(rows),
            "label": np.zeros(rows, dtype=int),
        }
    )
    frame.to_csv(path, sep=sep, index=False)
    return path


def test_train_then_score_writes_the_fixed_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training prints epoch progress and writes a model dir; scoring writes one row per input row."""
    train_csv = write_csv(tmp_path / "train.csv", 300, seed=0, sep=";")
    model_dir = tmp_path / "model"
    argv = ["train", "sensor", "--csv", str(train_csv), "--out", str(model_dir), "--window", "16"]
    assert main([*argv, "--epochs", "3", "--ignore", "label", "--device", "cpu"]) == 0
    output = capsys.readouterr().out
    assert "epoch   1/3" in output and "val" in output
    assert {p.name for p in model_dir.iterdir()} == {"card.json", "weights.pt", "training_scores.npy"}

    score_csv = write_csv(tmp_path / "score.csv", 120, seed=1)
    out = tmp_path / "out" / "scores.csv"
    assert (
        main(
            [
                "score",
                "sensor",
                "--model",
                str(model_dir),
                "--csv",
                str(score_csv),
                "--out",
                str(out),
                "--ignore",
                "label",
            ]
        )
        == 0
    )
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["timestamp", "score", "threshold", "anomaly"]
    assert len(scores) == 120
    assert scores["timestamp"].iloc[0] == "2026-01-01 00:00:00"
    assert scores["score"].iloc[:15].isna().all() and scores["score"].iloc[15:].notna().all()
    assert set(scores["anomaly"]) <= {0, 1}


def test_scoring_a_csv_without_the_model_channels_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --ignore the label column becomes a channel the scoring file must have too."""
    model_dir = tmp_path / "model"
    train_csv = write_csv(tmp_path / "train.csv", 200, seed=0)
    assert (
        main(
            [
                "train",
                "sensor",
                "--csv",
                str(train_csv),
                "--out",
                str(model_dir),
                "--window",
                "16",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    other = tmp_path / "other.csv"
    pd.read_csv(train_csv).drop(columns=["label"]).to_csv(other, index=False)
    capsys.readouterr()
    code = main(
        ["score", "sensor", "--model", str(model_dir), "--csv", str(other), "--out", str(tmp_path / "o.csv")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "lacks channels the model needs: label" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "sensor", "--csv", "missing.csv", "--out", "m"], "missing.csv: no such file"),
        (["train", "sensor", "--csv", "x.csv", "--out", "m", "--window", "2"], "--window must be at least 4"),
        (["score", "sensor", "--model", ".", "--csv", "x.csv", "--out", "o.csv"], "not a model directory"),
        (["score", "sensor", "--model", ".", "--csv", "x.csv", "--out", "."], ".: is a folder"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad inputs give exit code 2 and one error line naming the sub-command, no traceback."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in one_error_line(capsys, f"{argv[0]} {argv[1]}")


def test_missing_required_option_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Leaving out --out is caught by argparse with exit code 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "sensor", "--csv", "a.csv"])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_an_unwritable_output_path_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A disk error while writing (here a file where --out needs a folder) is `<path>: <reason>`, exit 2."""
    train_csv = write_csv(tmp_path / "train.csv", 200, seed=0)
    model_dir = tmp_path / "model"
    argv = ["train", "sensor", "--csv", str(train_csv), "--out", str(model_dir), "--ignore", "label"]
    assert main([*argv, "--window", "16", "--epochs", "1"]) == 0
    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    capsys.readouterr()
    argv = ["score", "sensor", "--model", str(model_dir), "--csv", str(train_csv), "--ignore", "label"]
    assert main([*argv, "--out", str(blocker / "scores.csv")]) == 2
    assert one_error_line(capsys, "score sensor").endswith(f"error: {blocker}: File exists")
