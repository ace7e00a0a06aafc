"""`make demo` runs the demo module; it must show the schedule and real scores."""

from __future__ import annotations

import pytest

from physiotrial import demo


def test_demo_shows_protocol_and_scores_samples(capsys: pytest.CaptureFixture[str]) -> None:
    demo.main()
    out = capsys.readouterr().out
    assert "Schedule" in out
    assert "NCT06816940" in out
    # awell-score WOMAC vector, all items moderate
    assert "'pain': 10.0, 'stiffness': 4.0, 'function': 34.0, 'total': 48.0" in out
    # Enright–Sherrill 1998, man 170 cm, 70 kg, 60 y
    assert "'predicted_m': 553.5" in out
    assert "1,000 responses scored in" in out
