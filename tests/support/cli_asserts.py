"""What every bad-input test checks of the CLI: one line on stderr, non-zero exit, no traceback."""


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    err = result.stderr.strip()
    assert "Traceback" not in result.output and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
