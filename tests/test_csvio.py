"""Sensor CSV reading: separators, time columns, label columns, and the user's errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.pipeline.csvio import CsvError, read_sensor_csv


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_semicolon_file_with_datetime_column_and_labels(tmp_path: Path) -> None:
    """SKAB's layout: ';', a datetime column, label columns dropped with ignore."""
    csv = write(
        tmp_path / "a.csv", "datetime;p;q;anomaly\n2020-01-01 00:00:00;1;2;0\n2020-01-01 00:00:01;3;4;1\n"
    )
    table = read_sensor_csv(csv, ignore=["anomaly", "changepoint"])
    assert table.channels == ["p", "q"]
    assert table.timestamps == ["2020-01-01 00:00:00", "2020-01-01 00:00:01"]
    assert table.values.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert (table.times[1] - table.times[0]).total_seconds() == 1.0


def test_comma_file_with_named_time_column_and_gaps(tmp_path: Path) -> None:
    """',' separator, --time-column, non-numeric columns skipped, gaps filled from neighbours."""
    csv = write(
        tmp_path / "b.csv",
        "when,site,p\n2020-01-01T00:00:00Z,x,\n2020-01-01T00:00:01Z,x,7\n2020-01-01T00:00:02Z,x,\n",
    )
    table = read_sensor_csv(csv, time_column="when")
    assert table.channels == ["p"]
    assert table.values[:, 0].tolist() == [7.0, 7.0, 7.0]


def test_select_orders_channels_and_names_missing_ones(tmp_path: Path) -> None:
    """The model's channel order is applied; a channel it needs but the file lacks is named."""
    table = read_sensor_csv(write(tmp_path / "c.csv", "timestamp,a,b\n2020-01-01,1,2\n"))
    np.testing.assert_array_equal(table.select(["b", "a"]), [[2.0, 1.0]])
    with pytest.raises(CsvError, match="lacks channels the model needs: z"):
        table.select(["a", "z"])


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a,b\n1,2\n", {}, "no time column"),
        ("timestamp,a\n2020-01-01,1\n", {"time_column": "ts"}, "no column 'ts'"),
        ("timestamp,label\n2020-01-01,x\n", {}, "no numeric channel columns"),
        ("timestamp,a\nyesterday-ish,1\n", {}, "not times"),
        ("timestamp,a\n", {}, "has no rows"),
    ],
)
def test_unusable_files_fail_with_one_clear_message(
    tmp_path: Path, text: str, kwargs: dict, message: str
) -> None:
    """Each unusable file gives an error naming the problem."""
    with pytest.raises(CsvError, match=message):
        read_sensor_csv(write(tmp_path / "bad.csv", text), **kwargs)


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A path that does not exist says so."""
    with pytest.raises(CsvError, match="no such file"):
        read_sensor_csv(tmp_path / "nope.csv")
