"""Reading sensor CSV files (training data and backtests) as DESIGN.md describes them: a time
column, `,` or `;` separators, every other numeric column a channel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TIME_COLUMNS = ("timestamp", "datetime", "time")


class CsvError(ValueError):
    """A CSV file that cannot be used, phrased for the user (the CLI prints it as one line)."""


@dataclass(frozen=True, slots=True)
class SensorTable:
    """Readings of one CSV: the time column as written, the parsed times, and the channel values."""

    path: Path
    timestamps: list[str]
    times: pd.DatetimeIndex
    channels: list[str]
    values: np.ndarray  # [rows, channels], float64

    def select(self, channels: list[str]) -> np.ndarray:
        """The values of `channels` in that order; the model's channels must all be present."""
        missing = [name for name in channels if name not in self.channels]
        if missing:
            raise CsvError(f"{self.path}: lacks channels the model needs: {', '.join(missing)}")
        index = [self.channels.index(name) for name in channels]
        return self.values[:, index]


def _separator(path: Path) -> str:
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    return ";" if header.count(";") > header.count(",") else ","


def read_sensor_csv(
    path: Path, time_column: str | None = None, ignore: list[str] | None = None
) -> SensorTable:
    """Read a sensor CSV; missing values repeat the channel's previous reading (or the next one)."""
    if not path.is_file():
        raise CsvError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, sep=_separator(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CsvError(f"{path}: not a readable CSV file: {str(exc).strip()}") from exc
    if time_column is None:
        time_column = next((name for name in TIME_COLUMNS if name in frame.columns), None)
        if time_column is None:
            raise CsvError(
                f"{path}: no time column (looked for {', '.join(TIME_COLUMNS)}; use --time-column)"
            )
    elif time_column not in frame.columns:
        raise CsvError(f"{path}: no column {time_column!r} (columns: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise CsvError(f"{path}: has no rows")
    try:
        times = pd.DatetimeIndex(pd.to_datetime(frame[time_column], utc=True, format="mixed"))
    except (ValueError, TypeError) as exc:
        raise CsvError(f"{path}: column {time_column!r} holds values that are not times: {exc}") from exc
    dropped = {time_column, *(ignore or [])}
    candidates = frame.drop(columns=[name for name in frame.columns if name in dropped])
    numeric = candidates.select_dtypes(include="number").dropna(axis=1, how="all")
    if numeric.columns.empty:
        raise CsvError(f"{path}: no numeric channel columns besides {time_column!r}")
    values = numeric.ffill().bfill().to_numpy(dtype=np.float64)
    return SensorTable(
        path=path,
        timestamps=frame[time_column].astype(str).tolist(),
        times=times,
        channels=[str(name) for name in numeric.columns],
        values=values,
    )
