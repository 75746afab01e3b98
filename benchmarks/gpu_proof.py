"""The GPU proof: one command that runs every CUDA code path of mote and measures it.

    python benchmarks/gpu_proof.py              # CUDA machine: full shapes, about 4.5 min on one H200 (sum of its parts, each measured; never run in one go)
    python benchmarks/gpu_proof.py --tiny       # any machine (CPU too): tiny shapes, about a minute

On a CUDA machine that lacks a package mote needs (open_clip, decord, PyAV, ...),
it first lists the wheels to install and stops. Then, in one process plus the
CLI subprocesses a user would run:

1. train step: ViT-B/16, 8 frames, batch 48, random init; the full MoTE step
   (encode, routed + WMR pass, loss, backward, AdamW) three ways in this process:
     mote bf16 eager      what `mote train` does (SDPA head, fused AdamW)
     mote bf16 compiled   the same with `run.compile = true` (image encoder compiled)
     release fp16         the authors' recipe: fp16 autocast + GradScaler, eager,
                          nn.MultiheadAttention head, unfused AdamW
   clips/s (median of timed windows) and peak GPU memory.
2. image encoder: frames/s in fp32 (TF32), bf16 (channels_last, as encode-frames
   runs it), bf16 NCHW and compiled bf16, against the FLOP ceiling of the GPU
   (35.1 GFLOP per 224x224 frame for ViT-B/16).
3. `mote demo --device cuda`.
4. `mote encode-frames` then `mote eval` of a random-init ViT-B/16 merged model on
   192 distinct synthetic videos, each listed twice (encoded once: the frame cache is
   keyed per video), on the GPU: encoded frames/s end to end and where the
   time goes (waiting for decoded frames vs the image encoder), and the decode
   rate alone per CPU core.
5. `torchrun --nproc-per-node 1 -m motecli train` for one epoch on the GPU.

Writes one JSON (--out) and prints a table. A part that fails is recorded with
its error and the others still run; the exit code is 1 if any failed.
--tiny: mote-tiny, 4 frames, batch 4, a few small videos, 1-epoch demo; the
compiled variants use torch.compile's "eager" backend there (inductor's code
generation takes minutes on a CPU), so the compile path runs, not its speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# import name -> wheel. torch itself is assumed (the proof is about its CUDA build).
WHEELS = {"open_clip": "open_clip_torch", "decord": "decord", "av": "av", "h5py": "h5py",
          "safetensors": "safetensors", "typer": "typer", "rich": "rich", "numpy": "numpy", "PIL": "pillow",
          "torchvision": "torchvision", "pydantic": "pydantic"}  # typer imports pydantic to coerce options
VIT_B16_GFLOP = 35.1  # per 224x224 frame, forward (the figure)
# Dense bf16 tensor-core peak, TFLOP/s (fp32 through TF32 is half of it).
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 NVL": 835.0,
                    "H100 PCIe": 756.0, "H100": 756.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


@dataclass(frozen=True)
class Shapes:
    model: str
    layers: int
    frames: int
    batch: int  # clips per training step
    encoder_batch: int  # frames per image-encoder call
    warmup: int
    steps: int
    repeats: int
    classes_distinct: int  # synthetic videos per class written to disk ...
    list_repeat: int  # ... each listed this many times in the encode/eval list
    video_hw: tuple[int, int]
    frames_range: tuple[int, int]
    grain: int
    compile_backend: str


FULL = Shapes(model="ViT-B-16", layers=4, frames=8, batch=48, encoder_batch=256, warmup=3, steps=10, repeats=3,
              classes_distinct=24, list_repeat=2, video_hw=(240, 320), frames_range=(64, 128), grain=30,
              compile_backend="inductor")
TINY = Shapes(model="mote-tiny", layers=2, frames=4, batch=4, encoder_batch=8, warmup=1, steps=1, repeats=1,
              classes_distinct=1, list_repeat=2, video_hw=(48, 64), frames_range=(10, 16), grain=0,
              compile_backend="eager")


def missing_wheels() -> list[str]:
    return [wheel for module, wheel in WHEELS.items() if importlib.util.find_spec(module) is None]


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_rates(call, shapes: "Shapes", *, per_call: int, device) -> list[float]:
    """Items per second of `call` (`per_call` items each), one figure per window of
    `shapes.steps` calls, `shapes.repeats` windows, synchronised at each window's end."""
    rates = []
    for _ in range(shapes.repeats):
        start = time.perf_counter()
        for _ in range(shapes.steps):
            call()
        sync(device)
        rates.append(shapes.steps * per_call / (time.perf_counter() - start))
    return rates


def peak_tflops(name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


# --- 1. the training step ---------------------------------------------------------------------


def _mha_class():
    from torch import nn

    class MHA(nn.MultiheadAttention):
        """The release's attention: torch's module, called as self-attention."""

        def __init__(self, width: int, heads: int) -> None:
            super().__init__(width, heads, batch_first=True)

        def forward(self, x):
            return super().forward(x, x, x, need_weights=False)[0]

    return MHA


def build_step_variant(shapes: Shapes, device, variant: str):
    """(step module, optimizer, precision, config) for one of the three variants."""
    import torch

    import motecli.train.loop as loop
    from motecli.model import temporal
    from motecli.model.clip import resolve_clip
    from motecli.model.runtime import Precision
    from motecli.model.video_clip import VideoModelConfig
    from motecli.train.recipe import LossSection

    spec = resolve_clip(shapes.model, "none")
    config = VideoModelConfig.for_clip(spec, layers=shapes.layers, num_frames=shapes.frames)
    release = variant == "release fp16"
    real_attention, real_fused = temporal.SelfAttention, loop.use_fused_adamw
    try:
        if release:  # the release's head and its plain AdamW
            temporal.SelfAttention = _mha_class()
            loop.use_fused_adamw = lambda device: False
        compiled = variant == "mote bf16 compiled"
        model = loop.build_model(spec, config, seed=0, grad_checkpointing=False, device=device,
                                 compile_visual=compiled and shapes.compile_backend == "inductor")
        if compiled and shapes.compile_backend != "inductor":
            model.visual.compile(backend=shapes.compile_backend)
        optimizer = loop.build_optimizer(model, lr=5e-5, clip_lr_ratio=0.07, weight_decay=0.2,
                                         betas=(0.9, 0.999), eps=1e-8)
    finally:
        temporal.SelfAttention, loop.use_fused_adamw = real_attention, real_fused
    precision = Precision("fp16" if release else "bf16", device.type)
    return loop.MoTEStep(model, loss_weights=LossSection()), optimizer, precision, config, spec


def step_inputs(shapes: Shapes, spec, device):
    """(routing generator, clips [B, T, 3, S, S], labels [B], unit class texts [400, D]), seeded."""
    import torch

    g = torch.Generator().manual_seed(0)
    frames = torch.randn(shapes.batch, shapes.frames, 3, spec.image_size, spec.image_size, device=device)
    labels = torch.randint(0, 400, (shapes.batch,), generator=g).to(device)
    text = torch.nn.functional.normalize(torch.randn(400, spec.embed_dim, generator=g), dim=-1).to(device)
    return g, frames, labels, text


def train_step(shapes: Shapes, device) -> dict:
    import torch

    from motecli.train.loop import draw_routing

    out = {}
    for variant in ("mote bf16 eager", "mote bf16 compiled", "release fp16"):
        step, optimizer, precision, config, spec = build_step_variant(shapes, device, variant)
        scaler = precision.scaler()
        g, frames, labels, text = step_inputs(shapes, spec, device)

        def one_step():
            indices, merge = draw_routing(num_blocks=config.layers, num_experts=config.num_experts, generator=g)
            with precision.autocast():
                loss, _, _ = step(frames, labels, text, expert_indices=indices,
                                  merge_weights=merge.to(device, non_blocking=True))
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)

        started = time.perf_counter()
        for _ in range(shapes.warmup):  # includes compilation
            one_step()
        sync(device)
        warmup_s = time.perf_counter() - started
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        rates = timed_rates(one_step, shapes, per_call=shapes.batch, device=device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        out[variant] = dict(clips_per_s=statistics.median(rates), all=[round(r, 2) for r in rates],
                            peak_gib=None if peak is None else round(peak, 2), warmup_s=round(warmup_s, 1),
                            fused_adamw=bool(optimizer.defaults.get("fused")), precision=precision.name)
        del step, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    best = max(out["mote bf16 eager"]["clips_per_s"], out["mote bf16 compiled"]["clips_per_s"])
    out["speedup_vs_release"] = best / out["release fp16"]["clips_per_s"]
    out["shapes"] = dict(model=shapes.model, frames=shapes.frames, batch=shapes.batch)
    return out


def profile_step(shapes: Shapes, device) -> dict:
    """torch.profiler over a few eager bf16 training steps: the kernels that take the time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from motecli.train.loop import draw_routing

    step, optimizer, precision, config, spec = build_step_variant(shapes, device, "mote bf16 eager")
    g, frames, labels, text = step_inputs(shapes, spec, device)

    def one_step():
        indices, merge = draw_routing(num_blocks=config.layers, num_experts=config.num_experts, generator=g)
        with precision.autocast():
            loss, _, _ = step(frames, labels, text, expert_indices=indices, merge_weights=merge.to(device))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(max(shapes.warmup, 1)):
        one_step()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(3):
            one_step()
        sync(device)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    table = prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=60)
    del step, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return dict(steps=3, table=table)


# --- 2. the image encoder ---------------------------------------------------------------------


def flops_per_frame(model: str, visual) -> float:
    """GFLOP of one 224x224 frame: the issue's figure for ViT-B/16, else counted (train
    mode, so attention is not hidden in a fused kernel the counter cannot see)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if model.startswith("ViT-B-16"):
        return VIT_B16_GFLOP
    was_training = visual.training
    visual.train()
    device = next(visual.parameters()).device
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        visual(torch.randn(1, 3, 224, 224, device=device))
    visual.train(was_training)
    return counter.get_total_flops() / 1e9


def encoder(shapes: Shapes, device) -> dict:
    import torch

    from motecli.cache.encode import frame_features
    from motecli.model.clip import build_clip, resolve_clip
    from motecli.model.runtime import Precision, use_channels_last

    spec = resolve_clip(shapes.model, "none")
    visual = build_clip(spec, device="cpu", need_text=False).visual.to(device).eval()
    gflop = flops_per_frame(shapes.model, visual)
    if use_channels_last(device):
        visual = visual.to(memory_format=torch.channels_last)
    frames = torch.randn(shapes.encoder_batch, 1, 1, 3, 224, 224, device=device)  # [B, V=1, T=1, 3, S, S]
    compiled = torch.compile(visual, backend=shapes.compile_backend)

    def nchw(precision):
        with torch.inference_mode(), precision.autocast():
            return visual(frames.flatten(0, 2).contiguous())

    # bf16 weights: cast once instead of autocast re-casting every linear's weight each call
    # (layer norm then also runs in bf16; an experiment, not what encode-frames does).
    import copy

    visual_bf16 = copy.deepcopy(visual).to(torch.bfloat16)
    frames_bf16 = frames.flatten(0, 2).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)

    def bf16_weights():
        with torch.inference_mode():
            return visual_bf16(frames_bf16)

    variants = {
        "fp32 (TF32)": lambda: frame_features(visual, frames, precision=Precision("fp32", device.type)),
        "bf16 weights": bf16_weights,
        "bf16": lambda: frame_features(visual, frames, precision=Precision("bf16", device.type)),
        "bf16 NCHW": lambda: nchw(Precision("bf16", device.type)),
        "bf16 compiled": lambda: frame_features(compiled, frames, precision=Precision("bf16", device.type)),
    }
    peak = peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    out = {}
    for name, run in variants.items():
        for _ in range(shapes.warmup):
            run()
        sync(device)
        rates = timed_rates(run, shapes, per_call=shapes.encoder_batch, device=device)
        fps = statistics.median(rates)
        ceiling = None
        if peak:
            ceiling = peak * (0.5 if name.startswith("fp32") else 1.0) * 1e12 / (gflop * 1e9)
        out[name] = dict(frames_per_s=fps, ceiling_frames_per_s=ceiling,
                         of_ceiling=None if ceiling is None else fps / ceiling)
    out["gflop_per_frame"] = gflop
    out["peak_bf16_tflops"] = peak
    return out


# --- 3-5. the CLI on the device ---------------------------------------------------------------


def run_cli(args: list[str], *, env: dict, timeout: int) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        said = [line for line in proc.stderr.splitlines() if line.startswith("mote:")]
        raise RuntimeError(f"{' '.join(args[:4])}... exit {proc.returncode}: "
                           f"{chr(10).join(said) or (proc.stderr or proc.stdout)[-1500:]}")
    return dict(seconds=seconds, stdout=proc.stdout[-3000:])


def demo(shapes: Shapes, device, *, work: Path, env: dict) -> dict:
    args = ["-m", "motecli", "demo", "--workdir", str(work / "demo"), "--device", str(device), "--no-plot"]
    pretrain_s = 0.0
    if shapes is TINY:  # a 2-step pretraining instead of the cached 90 s one
        weights = work / "pretrained-tiny.safetensors"
        pretrain_s = run_cli(["-m", "motecli", "pretrain-tiny", "--steps", "2", "--batch", "8", "--out", str(weights)],
                             env=env, timeout=600)["seconds"]
        args += ["--pretrained", str(weights), "--set", "solver.epochs=1", "--set", "solver.warmup_epochs=1", "--set",
                 "data.synthetic_videos_per_class=6", "--set", "run.val_every=1"]
    result = run_cli(args, env=env, timeout=600)
    rows = [line for line in result["stdout"].splitlines() if re.search(r"(close-set|zero-shot)\s", line)]
    return dict(seconds=result["seconds"], pretrain_seconds=pretrain_s, rows=rows)


def write_videos(shapes: Shapes, root: Path) -> tuple[Path, Path, Path, int]:
    """Synthetic videos of 8 classes (one process per class), and a list naming each
    video `list_repeat` times: (list, labels, video root, distinct videos)."""
    from concurrent.futures import ProcessPoolExecutor

    from motecli.data.synth import DEFAULT_SHAPES, DIRECTIONS

    classes = [(s, d) for s in DEFAULT_SHAPES for d in DIRECTIONS]
    with ProcessPoolExecutor(max_workers=min(len(classes), os.cpu_count() or 1)) as pool:
        jobs = [pool.submit(_write_class, root / f"class{c}", s, d, shapes, c) for c, (s, d) in enumerate(classes)]
        per_class = [job.result() for job in jobs]
    lines = [f"class{c}/videos/{rel} {c}" for c, rels in enumerate(per_class) for rel in rels]
    (root / "all.txt").write_text("".join(line + "\n" for line in lines) * shapes.list_repeat)
    (root / "labels.txt").write_text("".join(f"{s} moving {d}\n" for s, d in classes))
    return root / "all.txt", root / "labels.txt", root, len(lines)


def _write_class(out: Path, shape: str, direction: str, shapes: Shapes, seed: int) -> list[str]:
    from motecli.data.synth import make_synthetic_dataset

    ds = make_synthetic_dataset(out, videos_per_class=shapes.classes_distinct, shapes=(shape,), directions=(direction,),
                                frames_range=shapes.frames_range, height=shapes.video_hw[0], width=shapes.video_hw[1],
                                grain=shapes.grain, seed=seed)
    return [v.rel for v in ds.videos]


def merged_model(shapes: Shapes, out: Path, class_names: list[str]) -> Path:
    """A random-init model of the proof's shapes, merged as `mote merge` writes it."""
    import torch

    from motecli.checkpoints.training import FORMAT, FORMAT_VERSION, save_training_checkpoint
    from motecli.merge.merge import merge_checkpoint
    from motecli.model.clip import resolve_clip
    from motecli.model.video_clip import VideoModelConfig, build_video_clip

    spec = resolve_clip(shapes.model, "none")
    config = VideoModelConfig.for_clip(spec, layers=shapes.layers, num_frames=shapes.frames)
    torch.manual_seed(0)
    model = build_video_clip(spec, config)
    text = torch.nn.functional.normalize(torch.randn(len(class_names), spec.embed_dim), dim=-1)
    save_training_checkpoint(out / "train.pt", dict(
        format=FORMAT, format_version=FORMAT_VERSION, model_config=config.to_dict(),
        clip=dict(model=spec.model, pretrained=spec.pretrained, quick_gelu=spec.quick_gelu, weights_id=spec.weights_id),
        model=model.state_dict(), optimizer={}, scheduler={}, scaler={}, epoch=0, step=0, rng={}, recipe={},
        class_names=class_names, class_embeddings=text, best_top1=None))
    return merge_checkpoint(out / "train.pt", out=out / "merged.safetensors").out


def decode_rate(list_file: Path, labels: Path, root: Path, shapes: Shapes, workers: int) -> dict:
    """Decoding and preprocessing alone (the eval loader, no model): videos/s and per core."""
    from motecli.cache.source import eval_loader, resolve_source

    source = resolve_source(list_file=list_file, labels=labels, root=root)
    loader = eval_loader(source, list(range(len(source.videos))), num_frames=shapes.frames, clips=3, crops=1,
                         batch_size=4, workers=workers)
    start = time.perf_counter()
    videos = sum(len(b["indices"]) + len(b["failures"]) for b in loader)
    seconds = time.perf_counter() - start
    frames = videos * 3 * shapes.frames
    return dict(videos=videos, seconds=seconds, workers=workers, frames_per_s=frames / seconds,
                frames_per_s_per_core=frames / seconds / max(workers, 1))


def encode_eval(shapes: Shapes, device, *, work: Path, env: dict) -> dict:
    from motecli.env import default_workers

    videos = work / "videos"
    started = time.perf_counter()
    list_file, labels, root, distinct = write_videos(shapes, videos)
    write_s = time.perf_counter() - started
    merged = merged_model(shapes, work, [line.strip() for line in labels.read_text().splitlines()])
    common = ["--list", str(list_file), "--labels", str(labels), "--root", str(root), "-c", str(merged),
              "--device", str(device), "--protocol", "zero-shot"]
    enc = run_cli(["-m", "motecli", "encode-frames", *common], env=env, timeout=600)
    timing = re.search(r"time: ([\d.]+) s waiting for decoded frames, ([\d.]+) s in the image encoder, "
                       r"([\d.]+) s writing", enc["stdout"])
    listed = distinct * shapes.list_repeat
    # The frame cache is keyed per video: a video listed 4 times is decoded and encoded once.
    frames = distinct * 3 * shapes.frames
    ev = run_cli(["-m", "motecli", "eval", *common, "--results-dir", str(work / "results")],
                 env=env, timeout=600)
    workers = default_workers()
    out = dict(videos_listed=listed, videos_distinct=distinct, video_hw=list(shapes.video_hw),
               write_videos_s=round(write_s, 1), encode_frames_s=enc["seconds"],
               encode_frames_per_s=frames / enc["seconds"], eval_from_cache_s=ev["seconds"],
               decode_only=decode_rate(list_file, labels, root, shapes, workers))
    if timing:
        wait, gpu, write = map(float, timing.groups())
        out.update(wait_for_frames_s=wait, encoder_s=gpu, write_s=write,
                   decode_bound=wait > gpu, frames_per_s_inside=frames / max(wait + gpu + write, 1e-9))
    return out


def torchrun(shapes: Shapes, device, *, work: Path, env: dict) -> dict:
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "motecli", "train",
            str(ROOT / "recipes" / "tiny.toml"), "--device", str(device), "--output", str(work / "torchrun"),
            "--set", "solver.epochs=1", "--set", "solver.warmup_epochs=1", "--set", "run.val_every=1"]
    if shapes is TINY:
        args += ["--set", "data.synthetic_videos_per_class=6"]
    else:  # the proof's model on the demo's synthetic videos
        args += ["--set", f"model.name={shapes.model}", "--set", "model.pretrained=none", "--set",
                 f"model.layers={shapes.layers}", "--set", "run.precision=auto", "--set", "solver.total_batch=16",
                 "--set", "solver.lr=5e-5", "--set", "solver.clip_lr_ratio=0.07"]
    result = run_cli(args, env=env, timeout=600)
    records = [json.loads(line) for line in (work / "torchrun" / "metrics.jsonl").read_text().splitlines()]
    epoch = [r for r in records if r["kind"] == "epoch"][-1]
    start = next(r for r in records if r["kind"] == "start")
    return dict(seconds=result["seconds"], clips_per_s=epoch["clips_per_s"], loss=epoch["loss"],
                precision=start["precision"], world_size=start["world_size"])


# --- driver -----------------------------------------------------------------------------------


def environment(device) -> dict:
    import torch

    from motecli.env import cpu_count

    info = dict(torch=torch.__version__, python=platform.python_version(), cpus=cpu_count(), device=str(device),
                date=time.strftime("%Y-%m-%d %H:%M"), host=platform.node())
    if device.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                    bf16=torch.cuda.is_bf16_supported())
    return info


def table(report: dict) -> str:
    p, lines = report["parts"], [f"mote GPU proof ({report['mode']}) on {report['env'].get('gpu', report['env']['device'])}"]

    def part(name):
        return p.get(name, {}) if p.get(name, {}).get("ok") else None

    if (t := part("train_step")) is not None:
        for v in ("mote bf16 eager", "mote bf16 compiled", "release fp16"):
            r = t[v]
            mem = "" if r["peak_gib"] is None else f", peak {r['peak_gib']:.1f} GiB"
            lines.append(f"  1 train step  {v:20s} {r['clips_per_s']:9.1f} clips/s{mem}")
        lines.append(f"  1 train step  mote / release       {t['speedup_vs_release']:9.2f}x  (goal >= 1.5x)")
    if (e := part("encoder")) is not None:
        for v in ("fp32 (TF32)", "bf16", "bf16 NCHW", "bf16 compiled", "bf16 weights"):
            if v not in e:
                continue
            r = e[v]
            share = "" if r["of_ceiling"] is None else f", {100 * r['of_ceiling']:.0f} % of the FLOP ceiling"
            lines.append(f"  2 encoder     {v:20s} {r['frames_per_s']:9.1f} frames/s{share}")
    if (d := part("demo")) is not None:
        lines.append(f"  3 mote demo   {d['seconds']:.0f} s")
    if (c := part("encode_eval")) is not None:
        where = (f"; {c['wait_for_frames_s']:.1f} s waiting for frames, {c['encoder_s']:.1f} s in the encoder"
                 if "encoder_s" in c else "")
        lines.append(f"  4 encode-frames {c['videos_listed']} videos: {c['encode_frames_per_s']:.0f} frames/s end to end"
                     f"{where}; decoding alone {c['decode_only']['frames_per_s_per_core']:.0f} frames/s per core "
                     f"({c['decode_only']['workers']} workers); eval from the cache {c['eval_from_cache_s']:.1f} s")
    if (r := part("torchrun")) is not None:
        lines.append(f"  5 torchrun train, 1 epoch: {r['seconds']:.0f} s, {r['clips_per_s']:.1f} clips/s, {r['precision']}")
    if (f := part("profile")) is not None:
        lines.append(f"  profile of {f['steps']} eager bf16 train steps, top kernels:")
        lines.extend("    " + row for row in f["table"].splitlines())
    for name, value in p.items():
        if not value.get("ok"):
            lines.append(f"  FAILED {name}: {value.get('error', '')[:300]}")
    lines.append(f"  total {report['seconds']:.0f} s; JSON: {report['out']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (the default without CUDA)")
    parser.add_argument("--out", type=Path, default=Path("gpu_proof.json"))
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--parts", default="train_step,encoder,profile,encode_eval,torchrun,demo",
                        help="comma-separated subset of the parts to run, in this order")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no part after this many seconds (the JSON is written after every part)")
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    if cuda and (missing := missing_wheels()):
        print(f"gpu_proof: this machine lacks {', '.join(missing)}; install them first:\n"
              f"  pip install {' '.join(missing)}", file=sys.stderr)
        return 2
    from motecli.model.runtime import allow_tf32

    shapes = TINY if args.tiny or not cuda else FULL
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    allow_tf32(device)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mote-gpu-proof-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MOTE_CACHE=str(work / "cache"), MOTE_OFFLINE="1")
    os.environ["MOTE_CACHE"] = env["MOTE_CACHE"]
    report = dict(mode="tiny" if shapes is TINY else "full", shapes=asdict(shapes), env=environment(device),
                  parts={}, out=str(args.out))
    started = time.perf_counter()
    parts = dict(train_step=lambda: train_step(shapes, device), encoder=lambda: encoder(shapes, device),
                 demo=lambda: demo(shapes, device, work=work, env=env),
                 encode_eval=lambda: encode_eval(shapes, device, work=work, env=env),
                 torchrun=lambda: torchrun(shapes, device, work=work, env=env),
                 profile=lambda: profile_step(shapes, device))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.parts.split(","):
        if args.budget_s is not None and time.perf_counter() - started > args.budget_s:
            report["parts"][name] = dict(ok=False, error=f"skipped: the {args.budget_s:.0f} s budget was spent")
            continue
        part_start = time.perf_counter()
        try:
            report["parts"][name] = dict(ok=True, **parts[name]())
        except Exception as err:
            report["parts"][name] = dict(ok=False, error=f"{type(err).__name__}: {err}",
                                         traceback=traceback.format_exc()[-4000:])
        report["parts"][name]["part_s"] = round(time.perf_counter() - part_start, 1)
        print(f"gpu_proof: {name} {'ok' if report['parts'][name]['ok'] else 'FAILED'} "
              f"in {report['parts'][name]['part_s']} s", file=sys.stderr, flush=True)
        report["seconds"] = time.perf_counter() - started
        args.out.write_text(json.dumps(report, indent=2, default=str))  # partial results survive a kill
    report["seconds"] = time.perf_counter() - started
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(table(report))
    return 0 if all(p["ok"] for p in report["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
