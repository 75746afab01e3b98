"""Each eval result records which video list it scored (sha256 over its lines, length) and
which backend read the videos, so results on different public lists can be told apart."""

import hashlib

from motecli.cache.source import resolve_source
from motecli.constants import TFM_K
from motecli.eval.runner import EvalSettings, evaluate_split
from motecli.text.labels import read_templates_file


def test_results_record_the_list_and_the_readers(merged, synth, tmp_path):
    source = resolve_source(dataset="synth", split=2, config=synth.config)
    settings = EvalSettings(checkpoint=merged, protocol="zero-shot", clips=1, crops=1, num_frames=8, modulation=False,
                            scales=(0.05,), k=TFM_K, templates=read_templates_file(None), batch_size=4,
                            from_videos=True)
    result = evaluate_split(source, settings)[0]
    list_file = synth.root / "lists" / "test2.txt"  # the list the synth dataset's split 2 reads
    lines = [line.split() for line in list_file.read_text().splitlines() if line.strip()]
    expected = hashlib.sha256("".join(f"{p}\t{y}\n" for p, y in lines).encode()).hexdigest()
    assert result["video_list"] == dict(sha256=expected, videos=len(lines), classes=len(synth.class_names))
    assert sum(result["video_backends"].values()) == result["videos"] == len(lines) - result["excluded"]
