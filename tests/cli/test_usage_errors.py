"""Usage errors are Click's (usage block, exit 2), our own errors one line (exit 1),
`mote --version` cheap; run as a user runs them, in a subprocess."""

import subprocess
import sys

import pytest

from motecli.hashing import package_version

USAGE_ERRORS = [
    (["nosuch"], "No such command"),
    (["evl"], "Did you mean 'eval'"),
    (["eval", "--nosuch-flag"], "No such option"),
    (["eval", "--split"], "requires an argument"),
    (["train"], "Missing argument"),
    (["eval", "--frames", "five"], "Invalid value for '--frames'"),
    (["cache", "clear", "--unused-for"], "requires an argument"),
    (["--debug"], "Missing command"),
]


def mote(*args, env=None):
    return subprocess.run([sys.executable, "-m", "motecli", *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("args, message", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_errors_exit_2_with_usage(args, message):
    proc = mote(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Usage: mote" in proc.stderr and message in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_our_own_errors_exit_1_in_one_line(tmp_path):
    proc = mote("encode-text", str(tmp_path / "missing.txt"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"mote: error: labels file {tmp_path / 'missing.txt'}: no such file"]


def test_version_prints_the_package_version_without_torch():
    code = ("import sys; sys.argv = ['mote', '--version']\nimport motecli.cli\n"
            "try:\n    motecli.cli.main()\nexcept SystemExit as e:\n    print('EXIT', e.code)\n"
            "print('HEAVY', sorted(m for m in ('torch', 'open_clip', 'h5py', 'decord') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == f"mote {package_version('motecli')}"
    assert "EXIT 0" in out and "HEAVY []" in out


def test_version_verbose_names_the_versions_that_decide_the_numbers():
    proc = mote("--version", "--verbose")
    assert proc.returncode == 0, proc.stderr
    for name in ("python:", "torch:", "open_clip: " + package_version("open_clip_torch"), "decord:", "PyAV:",
                 "h5py:", "numpy:", "cache root:", "datasets config:"):
        assert name in proc.stdout, (name, proc.stdout)


def test_fail_on_skipped_turns_excluded_videos_into_exit_3(monkeypatch):
    import typer

    from motecli import cli_app

    cli_app.finish_skipped(2, "x")  # off by default: returns
    monkeypatch.setattr(cli_app, "_fail_on_skipped", True)
    cli_app.finish_skipped(0, "x")
    with pytest.raises(typer.Exit) as exit_:
        cli_app.finish_skipped(1, "x")
    assert exit_.value.exit_code == cli_app.EXIT_SKIPPED == 3


def test_dataset_names_complete_after_dataset(tmp_path):
    config = tmp_path / "datasets.toml"
    config.write_text('[ucf101]\nlayout = "ucf101"\n[hmdb51]\nlayout = "hmdb51"\n[k400]\nlayout = "kinetics"\n')
    env = {"PATH": "", "MOTE_DATASETS": str(config), "_MOTE_COMPLETE": "complete_bash",
           "COMP_WORDS": "mote eval --dataset h", "COMP_CWORD": "3"}
    import os

    env = dict(os.environ, **{k: v for k, v in env.items() if k != "PATH"})
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.argv=['mote']; import motecli.cli; motecli.cli.main()"],
                          capture_output=True, text=True, env=env)
    assert proc.stdout.split() == ["hmdb51"], (proc.stdout, proc.stderr)
