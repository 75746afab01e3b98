"""`mote doctor`: passes where a run would work, fails naming what is wrong."""

import json

from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app
from motecli.doctor import _rising, check_datasets

runner = CliRunner()


def test_doctor_passes_on_the_synthetic_set(synth):
    result = runner.invoke(app, ["doctor", "--config", str(synth.config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert report["ok"] and report["counts"]["fail"] == 0
    for name in ("torch", "open_clip", "decord", "PyAV", "h5py", "cache root", "dataset synth"):
        assert status[name] == "ok", (name, report)
    listed = sum(len(synth.items(split, subset)) for split in (1, 2, 3) for subset in ("train", "test"))
    detail = next(c["detail"] for c in report["checks"] if c["name"] == "dataset synth")
    assert f"{listed} of {listed} listed videos found" in detail


def test_doctor_fails_naming_the_file_of_a_missing_folder(tmp_path):
    splits = tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    config = tmp_path / "datasets.toml"
    config.write_text(f'[ucf]\nlayout = "ucf101"\nroot = "{tmp_path / "no-such-videos"}"\nsplits_dir = "{splits}"\n')
    result = runner.invoke(app, ["doctor", "--config", str(config)])
    assert result.exit_code == 1
    line = next(l for l in result.stdout.splitlines() if "dataset ucf" in l)
    assert line.startswith("[fail]") and str(config) in line and "no-such-videos" in line, line
    assert "1 check(s) failed" in result.stdout


def test_missing_videos_warn_and_no_video_fails(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "x.mp4").write_bytes(b"x")
    (tmp_path / "some.txt").write_text("x.mp4 0\ny.mp4 1\n")
    (tmp_path / "none.txt").write_text("y.mp4 0\nz.mp4 1\n")
    config = tmp_path / "datasets.toml"
    config.write_text(f'[some]\nlayout = "list"\nroot = "v"\ntest = "some.txt"\nlabels = "labels.txt"\n'
                      f'[none]\nlayout = "list"\nroot = "v"\ntest = "none.txt"\nlabels = "labels.txt"\n')
    checks = {c.name: c for c in check_datasets(config)}
    assert checks["dataset some"].status == "warn" and "1 of 2" in checks["dataset some"].detail
    assert checks["dataset none"].status == "fail" and "0 of 2" in checks["dataset none"].detail


def test_probe_must_rise():
    assert _rising([0, 16, 32, 48, 64, 80, 96, 112])
    assert not _rising([0, 16, 32, 48, 64, 80, 96])  # a frame lost
    assert not _rising([0, 16, 32, 48, 64, 80, 112, 96])  # frames out of order
