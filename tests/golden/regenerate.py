"""Regenerate the golden outputs of tests/golden/test_golden.py, on purpose only.

    python tests/golden/regenerate.py                 # compare only: prints the largest differences, writes nothing
    python tests/golden/regenerate.py --write         # rewrite expected.json from the stored weights
    python tests/golden/regenerate.py --new-weights   # draw new stored weights too (then rewrite expected.json)

Run it from the repository root with the project's Python. Rewrite expected.json
only when a change of the numbers is understood and intended (a new torch or
open_clip that is known to compute differently, a deliberate change of a
transform), and say so in the commit message. The weights never need to change:
`--new-weights` exists for a change of the tiny model's architecture.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import golden_model as golden  # noqa: E402


def new_weights() -> None:
    """A tiny VideoCLIP with 4 distinct experts (mote_builders.tiny_model) and 5 class embeddings, quantised."""
    from mote_builders import tiny_model
    from safetensors.torch import save_file

    model, _ = tiny_model(seed=0)
    state = dict(model.state_dict())
    gen = torch.Generator().manual_seed(1)
    state["class_embeddings"] = torch.nn.functional.normalize(torch.randn(len(golden.CLASS_NAMES), 64, generator=gen), dim=-1)
    tensors, metadata = golden.quantise_state(state)
    save_file(tensors, str(golden.WEIGHTS), metadata=metadata)
    print(f"wrote {golden.WEIGHTS} ({golden.WEIGHTS.stat().st_size / 1e6:.2f} MB)")


def versions() -> dict:
    import importlib.metadata as md

    return {name: md.version(name) for name in ("torch", "torchvision", "open_clip_torch", "numpy", "safetensors")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite expected.json")
    parser.add_argument("--new-weights", action="store_true", help="draw new stored weights, then rewrite expected.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.new_weights:
        new_weights()
    with tempfile.TemporaryDirectory() as tmp:
        outputs = golden.compute(Path(tmp))
    if golden.EXPECTED.is_file():
        expected = json.loads(golden.EXPECTED.read_text())["outputs"]
        for name, value in outputs.items():
            old = np.asarray(expected.get(name, np.nan))
            diff = np.abs(value - old).max() if old.shape == value.shape else float("inf")
            print(f"{name:18s} shape {value.shape}, largest difference from expected.json {diff:.3g}")
    if args.write or args.new_weights:
        doc = dict(
            note="Written by tests/golden/regenerate.py; rewrite only on purpose (see its docstring).",
            generated_with=versions(), rtol=golden.RTOL, atol=golden.ATOL,
            outputs={name: value.tolist() for name, value in outputs.items()},
        )
        golden.EXPECTED.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {golden.EXPECTED}")


if __name__ == "__main__":
    main()
