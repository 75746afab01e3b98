"""`mote decode` and `mote synth` through the Typer app: one-line errors, no tracebacks."""

import pytest
from cli_asserts import assert_one_line_error
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app
from motecli.data.store import FrameStore

runner = CliRunner()


def test_unknown_dataset(synth_env):
    result = runner.invoke(app, ["decode", "--dataset", "nope"])
    assert_one_line_error(result, "unknown dataset 'nope'", str(synth_env.config))


def test_missing_list_file(tmp_path):
    (tmp_path / "labels.txt").write_text("a\n")
    result = runner.invoke(app, ["decode", "--list", str(tmp_path / "gone.txt"), "--labels", str(tmp_path / "labels.txt"),
                                 "--root", str(tmp_path)])
    assert_one_line_error(result, "gone.txt", "no such file")


@pytest.mark.parametrize("args,fragment", [
    (["decode"], "no videos named: pass --dataset NAME"),
    (["decode", "--dataset", "synth", "--split", "9"], "split 9 out of range"),
    (["decode", "--dataset", "synth", "--format", "png"], "expected jpeg or raw"),
])
def test_bad_options(synth_env, tmp_path, args, fragment):
    assert_one_line_error(runner.invoke(app, args + ["--out", str(tmp_path / "s")]), fragment)


def test_decode_list_and_synth(tmp_path):
    result = runner.invoke(app, ["synth", str(tmp_path / "d"), "--videos-per-class", "3", "--seed", "3"])
    assert result.exit_code == 0, result.output
    d = tmp_path / "d"
    result = runner.invoke(app, ["decode", "--list", str(d / "lists/test1.txt"), "--labels", str(d / "lists/labels.txt"),
                                 "--root", str(d / "videos"), "--out", str(tmp_path / "s"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.stdout
    lines = (d / "lists/test1.txt").read_text().split("\n")
    store = FrameStore(tmp_path / "s")
    assert [f"{p} {y}" for p, y in store.videos.items] == [line for line in lines if line]


def test_decode_rejects_a_non_positive_timeout(synth_env):
    result = runner.invoke(app, ["decode", "--dataset", "synth", "--timeout", "0"])
    assert_one_line_error(result, "--timeout 0")


@pytest.mark.parametrize("args, fragment", [
    ([], "no videos named: pass --dataset NAME (see datasets.toml) or --list FILE --labels FILE --root DIR"),
    (["--dataset", "synth", "--list", "x.txt"], "pass --dataset NAME or --list FILE, not both"),
    (["--list", "x.txt", "--root", "."], "--list needs --labels FILE (the class names) and --root DIR"),
])
@pytest.mark.parametrize("command", [["decode"], ["encode-frames"], ["eval"], ["few-shot-lists", "--out", "lists"]])
def test_every_command_names_its_videos_by_one_rule(synth_env, merged, command, args, fragment):
    """decode, encode-frames, eval and few-shot-lists share data.registry.select_videos: same rule, same words."""
    extra = ["--checkpoint", str(merged), "--frames", "8"] if command[0] in ("encode-frames", "eval") else []
    assert_one_line_error(runner.invoke(app, [*command, *args, *extra]), fragment)


def test_a_bad_environment_value_is_one_line_when_used(synth_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MOTE_DECODE_TIMEOUT_S", "abc")
    result = runner.invoke(app, ["decode", "--dataset", "synth", "--out", str(tmp_path / "s"), "--no-progress"])
    assert_one_line_error(result, "MOTE_DECODE_TIMEOUT_S='abc': expected a positive number of seconds")
    assert not (tmp_path / "s").exists()
