"""SKAB outlier-detection protocol through the project's own CLI.

For each experiment file: `monitor train sensor` on its first 400 rows, `monitor score sensor` on the
whole file (so the window warms up on the training rows), then point-wise F1, false-alarm rate
(FAR) and missed-alarm rate (MAR) over the rows after the first 400 of all files together, beside
the published SKAB leaderboard. Default settings throughout: what is measured is what ships.

    .venv/bin/python scripts/eval_skab.py [--data DIR] [--files GLOB] [--doc docs/evaluation.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from evalkit import DOC, run_cli, write_section  # scripts/ is on sys.path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "skab-dev"
TRAIN_ROWS = 400
LABELS = "anomaly,changepoint"
LEADERBOARD = [
    ("Conv-AE", 0.78, 13.6, 28.0),
    ("MSET", 0.78, None, None),
    ("PCA T-squared+Q", 0.76, None, None),
    ("LSTM-AE", 0.74, None, None),
    ("T-squared", 0.66, None, None),
    ("LSTM-VAE", 0.56, None, None),
    ("Vanilla AE", 0.39, None, None),
    ("Isolation Forest", 0.29, None, None),
]


@dataclass(frozen=True, slots=True)
class Metrics:
    f1: float
    far: float
    mar: float
    rows: int

    @classmethod
    def of(cls, labels: np.ndarray, flags: np.ndarray) -> Metrics:
        """Point-wise F1, FAR = FP/(FP+TN), MAR = FN/(FN+TP)."""
        labels, flags = labels.astype(bool), flags.astype(bool)
        tp = int((labels & flags).sum())
        fp = int((~labels & flags).sum())
        fn = int((labels & ~flags).sum())
        tn = int((~labels & ~flags).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        return cls(f1=f1, far=fp / max(fp + tn, 1), mar=fn / max(fn + tp, 1), rows=len(labels))


@dataclass(frozen=True, slots=True)
class Evaluation:
    files: dict[str, Metrics]
    total: Metrics
    seconds: float


def evaluate_file(path: Path, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """Train on the file's first rows and score it whole; return labels and flags after TRAIN_ROWS."""
    lines = path.read_text().splitlines(keepends=True)
    train_csv = work / f"{path.stem}-train.csv"
    train_csv.write_text("".join(lines[: TRAIN_ROWS + 1]))
    model_dir, scores_csv = work / f"{path.stem}-model", work / f"{path.stem}-scores.csv"
    run_cli(["train", "sensor", "--csv", str(train_csv), "--out", str(model_dir), "--ignore", LABELS])
    run_cli(
        [
            "score",
            "sensor",
            "--model",
            str(model_dir),
            "--csv",
            str(path),
            "--out",
            str(scores_csv),
            "--ignore",
            LABELS,
        ]
    )
    labels = pd.read_csv(path, sep=";")["anomaly"].to_numpy()
    flags = pd.read_csv(scores_csv)["anomaly"].to_numpy()
    return labels[TRAIN_ROWS:], flags[TRAIN_ROWS:]


def evaluate(data: Path, pattern: str = "valve2-*.csv") -> Evaluation:
    paths = sorted(data.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no files matching {pattern} in {data}")
    started = time.perf_counter()
    per_file: dict[str, Metrics] = {}
    all_labels, all_flags = [], []
    with tempfile.TemporaryDirectory(prefix="eval-skab-") as tmp:
        for path in paths:
            labels, flags = evaluate_file(path, Path(tmp))
            per_file[path.stem] = Metrics.of(labels, flags)
            all_labels.append(labels)
            all_flags.append(flags)
    total = Metrics.of(np.concatenate(all_labels), np.concatenate(all_flags))
    return Evaluation(files=per_file, total=total, seconds=time.perf_counter() - started)


def render(evaluation: Evaluation, pattern: str) -> str:
    """The markdown table of docs/evaluation.md: our row beside the published leaderboard."""
    total = evaluation.total
    lines = [
        "| method | F1 | FAR % | MAR % |",
        "| --- | --- | --- | --- |",
        f"| **Plant Monitor (this repo, defaults)** | **{total.f1:.2f}** | **{100 * total.far:.1f}** | **{100 * total.mar:.1f}** |",
    ]
    for name, f1, far, mar in LEADERBOARD:
        far_text = f"{far:.1f}" if far is not None else "—"
        mar_text = f"{mar:.1f}" if mar is not None else "—"
        lines.append(f"| {name} (published) | {f1:.2f} | {far_text} | {mar_text} |")
    lines += [
        "",
        f"Per file ({pattern}, rows after the first {TRAIN_ROWS}):",
        "",
        "| file | F1 | FAR % | MAR % | rows |",
    ]
    lines.append("| --- | --- | --- | --- | --- |")
    for name, metrics in evaluation.files.items():
        lines.append(
            f"| {name} | {metrics.f1:.2f} | {100 * metrics.far:.1f} | {100 * metrics.mar:.1f} | {metrics.rows} |"
        )
    return "\n".join(lines)


SECTION = "## Sensor anomaly detection: SKAB (outlier detection)"
DOC_HEADER = f"""{SECTION}

Data: the `valve2` experiments of the Skoltech Anomaly Benchmark (SKAB v0.9, `../shared/data/skab-dev`);
the other 30 experiments are held out. Protocol as published: per file, fit on the first 400 rows, score
the rest, point-wise F1, false-alarm rate FAR = FP/(FP+TN) and missed-alarm rate MAR = FN/(FN+TP) over the
scored rows of all files together.

The run goes through the user-facing commands with default settings (`monitor train sensor` on the
first 400 rows, `monitor score sensor` on the whole file, `--ignore anomaly,changepoint`), so the anomaly
flag is the daemon's: threshold, K-of-N debounce and hysteresis included. No setting depends on a file.

Reproduce: `make eval-skab` (or `.venv/bin/python scripts/eval_skab.py`; `--files 'GLOB'` for other
experiments).

### Why the defaults are what they are
- **Level-free slow channels.** A channel whose baseline variance lies mostly on time scales longer than
  a window (within-window variance < 50 % of its total variance: here `Temperature` and `Thermocouple`
  warming up) has no normal range that 400 readings can show; judged by level it drifts out of range
  and raises false alarms for the rest of the run. Such channels enter the model minus their window mean
  (shape only). This took FAR from 74 % to 21 % at equal recall. The price: a pure level shift on such a
  channel is seen only while it crosses the window.
- **Threshold `quantile`, q = 0.99, margin 1.5.** The baseline scores are in-sample reconstruction
  errors of a few hundred overlapping windows: they understate the errors of new normal data, and their
  tail holds too few independent peaks for a GPD fit (SPOT fell back to the maximum, or extrapolated
  erratically from 37 peaks). The 99th percentile with a 1.5 margin for the generalisation gap is the
  stable choice: FAR 4–6 % over seeds; margin 1.25 gave FAR 15 %, 1.75 missed the weakest anomaly (MAR 31 %).
  `pot` stays available for assets recalibrated on thousands of live scores. With the other methods'
  defaults on this data: `pot` (risk 1e-4) F1 0.78, FAR 6.7 %; `ewma` (k = 4) F1 0.59, FAR 0 %.
- **Window 32, width 16, 2 stride-2 levels, 4 latent channels.** Window 16 missed more (MAR 28 %), 64
  raised FAR (17 %); width 16 (F1 0.90–0.91 over seeds 0–2) scores as well as 24–32 (0.87–0.91) at
  about half the CPU cost (15,000 windows in 0.23 s on one core, batches of 1,024).
- **Alerts K=3 of N=5, M=10.** Unchanged from the settings; 5-of-10 moved F1 by < 0.01, M = 30 doubled
  FAR (the alert outlasts the fault).
- **The baseline must span the asset's slow variation.** On `anomaly-free.csv` (2.6 h), a model trained
  on its first 400 rows flags 98 % of the rest: accelerometers and flow rate drift over hours, beyond any
  400-s baseline. Trained on its first 4,000 rows (those channels then count as level-free), it flags
  2.6 % of the remaining 5,400 rows, in 5 alerts (measured by hand with the same two commands).
- Most remaining misses are the start of each labelled fault: the valve closes slowly and the flow rate
  leaves its noise band about 50 s after the label starts.
- **Gaps start a new window** (`sensors.gap_factor` 10 median intervals), as in the daemon. valve2-1
  has one 64-s hole in its 1-s readings (after row 837, inside a labelled fault); the 31 readings
  after it only fill a fresh window and are unscored, so that file's MAR rose from 17.7 % to 27.0 %
  (F1 0.90 -> 0.84; all files: F1 0.90 -> 0.89, MAR 14.4 -> 16.4 %). With `MONITOR_SENSORS__GAP_FACTOR=100`
  the hole is bridged and every number is as before. The default is not moved for one file: a window
  spliced across an outage of hours made 997 of 1,000 readings anomalous in the sensor review.

"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SKAB directory")
    parser.add_argument("--files", default="valve2-*.csv", help="experiment files (glob)")
    parser.add_argument("--doc", type=Path, default=DOC, help="markdown report to write")
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    evaluation = evaluate(args.data, args.files)
    table = render(evaluation, args.files)
    print(table)
    print(f"\n{len(evaluation.files)} files in {evaluation.seconds:.1f} s")
    if not args.no_doc:
        last_run = f"Last run: {len(evaluation.files)} files in {evaluation.seconds:.1f} s."
        write_section(SECTION, f"{DOC_HEADER}{table}\n\n{last_run}\n", args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
