import json
from pathlib import Path

import pytest

from echomark.cli.main import main


@pytest.mark.slow
def test_demo_quick_runs_whole_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """synth (tiny) -> train 1 epoch (tiny net) -> predict ival + external -> evaluate -> report."""
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--quick"])
    assert rc == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[-1] == f"report: {out / 'report.html'}"
    assert "demo [5/5]" in captured.err  # progress was shown
    m = json.loads((out / "metrics.json").read_text())
    for key in ("median_point_error_px", "median_curve_distance_px", "presence_accuracy"):
        assert key in m["summary"]
    assert m["summary"]["n_images"] > 0 and m["external"]["summary"]["n_images"] > 0
    assert 0.0 <= m["summary"]["presence_accuracy"] <= 1.0
    html = (out / "report.html").read_text()
    assert "External validation" in html and "data:image/png;base64," in html
    assert (out / "predict-ival" / "predictions.json").is_file()


def test_demo_help_gives_the_default_epochs(capsys: pytest.CaptureFixture[str]) -> None:
    from echomark.workflows.demo import DEFAULT, QUICK

    assert main(["demo", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {DEFAULT.epochs}; {QUICK.epochs} with --quick)" in text
