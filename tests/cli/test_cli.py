"""The command line: start-up cost, the text command, and one-line errors."""

import os
import re
import subprocess
import sys

import pytest
from cli_asserts import assert_one_line_error
from typer.testing import CliRunner

import motecli.cli  # noqa: F401  (attaches the commands)
from motecli.cli_app import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_help_lists_commands_without_importing_heavy_modules():
    code = (
        "import sys; sys.argv = ['mote', '--help']\n"
        "import motecli.cli\n"
        "try:\n    motecli.cli.main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'open_clip', 'h5py', 'decord') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "encode-text" in out
    assert "HEAVY []" in out


COMMANDS = ("decode", "synth", "demo", "encode-text", "train", "merge", "encode-frames", "eval", "few-shot-lists",
            "few-shot-head", "few-shot", "predict", "results", "pretrain-tiny")
TYPE_LABEL = re.compile(r"<(bool|int|float|str|path|list\[\w+\])>")


def help_text(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def test_root_help_lists_every_command():
    listed = {line.split()[1] for line in help_text().splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert set(COMMANDS) <= listed


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_flags_as_flags_and_names_what_values_are(command):
    """No `<bool>` after a flag, no bare type (`<str>`, `<int>`, `<path>`) after an option: a metavar saying what it is."""
    text = help_text(command)
    options = [line for line in text.splitlines() if re.match(r"│\s*(\*\s+)?--", line)]
    assert any("--help" in line for line in options), text
    bad = [line.strip() for line in options if TYPE_LABEL.search(line)]
    assert bad == [], bad
    assert re.search(r"│\s+--help\s+-h\s+Show this message", text), text  # a flag: nothing between names and help


@pytest.mark.parametrize("command, option, metavar", [
    ("eval", "--tfm-scale", "SCALES"), ("eval", "--checkpoint", "FILE"), ("eval", "--split", "N|all"),
    ("decode", "--timeout", "SECONDS"), ("train", "--resume", "FILE|auto"), ("few-shot-lists", "--shots", "KS"),
    ("encode-frames", "--views", "1x1|4x3"), ("merge", "--patch-alpha", "ALPHA"),
])
def test_metavars(command, option, metavar):
    row = next(line for line in help_text(command).splitlines() if f" {option} " in line)
    assert f" {metavar} " in row, row


@pytest.mark.parametrize("command, flag", [("eval", "--plot"), ("demo", "--plot"), ("eval", "--modulation"),
                                           ("decode", "--progress"), ("synth", "--bad-files")])
def test_flag_rows_carry_no_value(command, flag):
    row = next(line for line in help_text(command).splitlines() if f" {flag} " in line)
    # Names, then straight the help sentence (a capital and lower case), no metavar (all capitals) or <bool>.
    assert re.search(rf"{flag}(\s+--no-{flag[2:]})?\s+[A-Z][a-z]", row), row


def test_patch_alpha_help_quotes_the_constant():
    from motecli.constants import ZERO_SHOT_PATCH_ALPHA

    for command in ("eval", "merge", "encode-frames"):
        row = next(line for line in help_text(command).splitlines() if " --patch-alpha " in line)
        assert f"{ZERO_SHOT_PATCH_ALPHA}" in row, row


def test_subcommand_help_exits_zero():
    for command in ("encode-text", "decode", "train", "merge", "encode-frames", "eval", "doctor", "cache", "cache list", "cache clear"):
        proc = subprocess.run([sys.executable, "-m", "motecli", *command.split(), "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "error" not in proc.stderr, (command, proc.stderr)


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "motecli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "encode-text" in proc.stdout


def test_encode_text_writes_then_hits(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("id,name\n0,ride bike\n1,brush hair\n")
    first = run("encode-text", str(labels), "--model", "mote-tiny")
    assert first.exit_code == 0, first.output
    path = first.stdout.splitlines()[0].strip()
    assert os.path.exists(path) and "2 classes, dim 64" in first.stdout
    second = run("encode-text", str(labels), "--model", "mote-tiny")
    assert second.exit_code == 0 and "cache hit" in second.stdout


@pytest.mark.parametrize(
    "content, fragments",
    [("", ["empty"]), ("a\nb\na\n", ["duplicate class name 'a'"]), ("id,name\n0,a\n2,b\n", ["ids must be"])],
)
def test_bad_labels_files(tmp_path, content, fragments):
    labels = tmp_path / "labels.txt"
    labels.write_text(content)
    assert_one_line_error(run("encode-text", str(labels), "--model", "mote-tiny"), str(labels), *fragments)


def test_missing_and_unreadable_paths(tmp_path):
    assert_one_line_error(run("encode-text", str(tmp_path / "nope.txt")), "no such file")
    assert_one_line_error(run("encode-text", str(tmp_path)), "is a directory")


def test_unknown_model_and_offline_weights(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    assert_one_line_error(run("encode-text", str(labels), "--model", "ViT-Q-99"), "unknown model 'ViT-Q-99'")
    assert_one_line_error(run("encode-text", str(labels), "--model", "ViT-B-16", "--pretrained", "openai"), "--pretrained /path/to")
    assert_one_line_error(run("encode-text", str(labels), "--model", "ViT-B-16", "--pretrained", "nosuchtag"), "unknown pretrained tag")


def test_corrupt_cache_file(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    assert_one_line_error(run("encode-text", str(labels), "--model", "mote-tiny", "--out", str(bad)), "corrupt")


def test_debug_shows_the_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "motecli", "--debug", "encode-text", str(tmp_path / "missing.txt")],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr
