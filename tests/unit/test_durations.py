"""Elapsed times for people (chalicelib/core/durations.py), as the CLI and the console
write them."""

from __future__ import annotations

from chalicelib.core.durations import elapsed_text
from jobctl.cli.ops import _duration


def test_elapsed_time_in_its_two_largest_units() -> None:
    seconds = [0, 59, 60, 75, 3599, 3600, 3725, 172799, 172800, 277200]
    assert [elapsed_text(s) for s in seconds] == [
        "0s", "59s", "1m00s", "1m15s", "59m59s", "1h00m", "1h02m", "47h59m", "48h00m", "77h00m",
    ]  # fmt: skip
    spaced = [elapsed_text(s, separator=" ", days_from_hours=48) for s in seconds[-3:]]
    assert spaced == ["47h 59m", "2d 00h", "3d 05h"]


def test_the_cli_writes_runs_durations_compact_and_dash_when_unknown() -> None:
    assert [_duration(s) for s in (None, 75, 277200)] == ["-", "1m15s", "77h00m"]
