"""Real codecs: the frames mote samples equal a reference decode of the same indices
(PyAV decoding every frame in order, display rotation applied), whichever backend
read them; and each video says which backend read it and why.

Videos are tiny (64x48, 24 frames) and written here with PyAV in the codecs users
have: H.264 with B-frames (Kinetics), MPEG-4 part 2 with B-frames in AVI tagged XVID
(UCF-101, HMDB-51), VP9 in WebM (SSv2), variable frame rate, rotation metadata.
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from motecli.data.sampling import eval_indices
from motecli.data.video import read_video

N_FRAMES, H, W = 24, 48, 64


def _image(i: int) -> np.ndarray:
    """A frame that differs from every other: colour ramps and a moving square near the top."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = (i * 37) % 256
    img[..., 1] = (i * 11 + 60) % 256
    x = (i * 5) % (W - 8)
    img[8:24, x:x + 8, 2] = 255
    return img


def _write(path: Path, codec: str, *, options=None, tag=None, vfr=False, rotation=None) -> Path:
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25, options=options or {})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        if tag:
            stream.codec_context.codec_tag = tag
        if vfr:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        pts = 0
        for i in range(N_FRAMES):
            frame = av.VideoFrame.from_ndarray(_image(i), format="rgb24")
            if vfr:  # 20 ms and 70 ms gaps: no constant rate
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                pts += 20 if i % 3 else 70
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


CASES = {
    # name: (file, codec, writer options, expected backend, words in the fallback reason)
    "h264_bframes": ("v.mp4", "libx264", dict(options={"bf": "3", "g": "8", "crf": "18"}), "decord", None),
    "xvid_avi_bframes": ("v.avi", "mpeg4", dict(options={"bf": "2", "qscale": "2"}, tag="XVID"), "pyav", "decord #195"),
    "vp9_webm": ("v.webm", "libvpx-vp9", dict(options={"crf": "20", "b": "0"}), "decord", None),
    "vfr_h264": ("v.mp4", "libx264", dict(options={"bf": "2"}, vfr=True), "decord", None),
    "rotation_90": ("v.mp4", "libx264", dict(rotation=90), "pyav", "decord: frames unreadable"),
    "rotation_180": ("v.mp4", "libx264", dict(rotation=180), "decord", None),
}


def _reference(path: Path, rotation: int) -> np.ndarray:
    """Every frame, decoded in order, turned as the writer asked (counter-clockwise)."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack([np.rot90(f, rotation // 90) for f in frames])


@pytest.mark.parametrize("case", list(CASES))
def test_sampled_frames_equal_the_reference_decode(case, tmp_path):
    name, codec, kwargs, backend, why = CASES[case]
    path = _write(tmp_path / name, codec, **kwargs)
    reference = _reference(path, kwargs.get("rotation") or 0)
    assert len(reference) == N_FRAMES
    pick = lambda n: eval_indices(n, num_frames=8, num_clips=2)  # noqa: E731  (two clips, as eval samples)
    for chosen in ("auto", "pyav"):
        read = read_video(str(path), pick, timeout_s=None, backend=chosen)
        assert read.num_frames == N_FRAMES
        want = reference[read.indices.reshape(-1)].reshape(read.frames.shape)
        assert np.abs(read.frames.astype(int) - want.astype(int)).max() <= 3, (chosen, read.backend)
    auto = read_video(str(path), pick, timeout_s=None)
    assert auto.backend == backend
    assert (auto.fallback is None) if why is None else (why in auto.fallback)


def test_frame_folder_reads_images_in_name_order(tmp_path):
    from PIL import Image

    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(_image(i)).save(folder / f"img_{i + 1:05d}.png")
    read = read_video(str(folder), lambda n: np.array([4, 0, 2]), timeout_s=None)
    assert read.backend == "frames" and read.num_frames == 5
    assert np.array_equal(read.frames, np.stack([_image(4), _image(0), _image(2)]))


def test_dataset_batches_say_who_read_each_video(tmp_path):
    from torch.utils.data import DataLoader

    from motecli.data.dataset import ClipDataset, collate_clips
    from motecli.data.layouts import VideoList

    _write(tmp_path / "a.mp4", "libx264")
    _write(tmp_path / "b.avi", "mpeg4", options={"bf": "2"}, tag="XVID")
    videos = VideoList(tmp_path, [("a.mp4", 0), ("b.avi", 1), ("missing.mp4", 0)], ["x", "y"], "test")
    batch = next(iter(DataLoader(ClipDataset(videos, mode="test", num_frames=4), batch_size=3,
                                 collate_fn=collate_clips)))
    assert [(i, b) for i, b, _ in batch["backends"]] == [(0, "decord"), (1, "pyav")]
    assert "decord #195" in batch["backends"][1][2]
    assert batch["failures"][0][2].startswith("file not found")
