"""One progress style for every long stage: plain log lines with rate and ETA when
output is not a terminal, a rich bar on a terminal, nothing on ranks other than 0."""

import logging

import pytest

from motecli.progress import Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mote_log(caplog):
    logger = logging.getLogger("mote")
    old = logger.propagate
    logger.propagate = True  # setup_logging() of another test may have turned it off
    caplog.set_level(logging.INFO, logger="mote")
    yield caplog
    logger.propagate = old


def test_log_lines_every_interval_with_rate_and_eta(mote_log):
    clock = Clock()
    with Progress("encode-frames", total=40, unit="videos", terminal=False, log_every_s=30, clock=clock) as bar:
        for _ in range(10):  # one video per 5 s: 0.2 videos/s
            clock.now += 5
            bar.advance(1)
    lines = [r.getMessage() for r in mote_log.records]
    # 30 s interval over 50 s: one periodic line (at 30 s), then the final one.
    assert lines[0] == "encode-frames: 6/40 videos, 0.2 videos/s, ETA 0:02:50"  # 34 left x 5 s
    assert lines[1] == "encode-frames: done, 10/40 videos, 0.2 videos/s, in 0:00:50"
    assert len(lines) == 2


def test_work_rate_and_fields(mote_log):
    """Training: steps move the bar, clips give the rate; a transient bar has no final line."""
    clock = Clock()
    with Progress("epoch 1/3", total=4, unit="steps", rate_unit="clips", terminal=False, log_every_s=0,
                  transient=True, clock=clock) as bar:
        clock.now += 2
        bar.advance(1, work=16, lr="1.00e-03")
        clock.now += 2
        bar.advance(1, work=16, loss="0.6931")
    lines = [r.getMessage() for r in mote_log.records]
    assert lines == ["epoch 1/3: 1/4 steps, 8.0 clips/s, ETA 0:00:06, lr 1.00e-03",
                     "epoch 1/3: 2/4 steps, 8.0 clips/s, ETA 0:00:04, lr 1.00e-03, loss 0.6931"]


def test_resumed_stage_counts_rate_from_this_run(mote_log):
    clock = Clock()
    with Progress("decode", total=100, initial=60, unit="videos", terminal=False, log_every_s=1, clock=clock) as bar:
        clock.now += 4
        bar.advance(20)  # 20 in 4 s: 5/s; 20 left: 4 s
    assert mote_log.records[0].getMessage() == "decode: 80/100 videos, 5.0 videos/s, ETA 0:00:04"


def test_only_rank_zero_reports(mote_log, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    clock = Clock()
    with Progress("encode-frames", total=2, terminal=False, log_every_s=0, clock=clock) as bar:
        clock.now += 1
        bar.advance(2)
    assert not bar.enabled and mote_log.records == []


def test_terminal_bar_shows_rate_and_eta(capsys):
    clock = Clock()
    with Progress("decode", total=8, unit="videos", terminal=True, clock=clock) as bar:
        clock.now += 2
        bar.advance(4)
        assert bar.status() == "4/8 videos, 2.0 videos/s, ETA 0:00:02"
    err = capsys.readouterr().err
    assert "decode" in err and "2.0 videos/s" in err


def test_format_duration():
    assert format_duration(3725.4) == "1:02:05"
