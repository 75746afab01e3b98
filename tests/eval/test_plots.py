import json

import pytest

from motecli.eval.plots import plot_per_class, plot_trade_off, trade_off_points

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def results(name, protocol, top1, *, checkpoint="a.safetensors", modulation=True, per_class=None):
    split = dict(top1=top1, per_class=per_class or {"x": dict(top1=top1, videos=2)})
    return dict(format="mote-eval", name=name, checkpoint=dict(path=checkpoint),
                settings=dict(protocol=protocol, modulation=modulation, from_videos=False),
                runs=[dict(top1_mean=top1, splits=[split])])


def write(folder, filename, obj):
    (folder / filename).write_text(json.dumps(obj))


def test_trade_off_points_per_checkpoint_and_modulation(tmp_path):
    write(tmp_path, "k400.json", results("k400", "close-set", 0.8))
    write(tmp_path, "ucf.json", results("ucf101", "zero-shot", 0.6))
    write(tmp_path, "hmdb.json", results("hmdb51", "zero-shot", 0.3))
    write(tmp_path, "hmdb-nomod.json", results("hmdb51", "zero-shot", 0.2, modulation=False))
    write(tmp_path, "other.json", results("ucf101", "zero-shot", 0.5, checkpoint="b.safetensors"))
    (tmp_path / "junk.json").write_text("{not json")
    points = trade_off_points(tmp_path)
    # Only checkpoint a with modulation has both kinds; HM of 0.6 and 0.3 is 0.4.
    assert len(points) == 1
    assert points[0]["close_set"] == pytest.approx(0.8)
    assert points[0]["zero_shot"] == pytest.approx(2 / (1 / 0.6 + 1 / 0.3))
    out = plot_trade_off(tmp_path, tmp_path / "trade-off.png")
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_no_trade_off_plot_without_both_kinds(tmp_path):
    write(tmp_path, "ucf.json", results("ucf101", "zero-shot", 0.6))
    assert plot_trade_off(tmp_path, tmp_path / "t.png") is None and not (tmp_path / "t.png").exists()


def test_per_class_plot_is_a_png(tmp_path):
    res = results("ucf101", "zero-shot", 0.5, per_class={"a": dict(top1=1.0, videos=1), "b": dict(top1=0.0, videos=1)})
    assert plot_per_class(res, tmp_path / "pc.png").read_bytes().startswith(PNG_MAGIC)
