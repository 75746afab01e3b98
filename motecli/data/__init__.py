"""Everything between a folder of videos and a batch of normalised frame tensors.

One concept per module:

- `sampling`   frame indices for training (segment-random) and testing (multi-clip)
- `transforms` clip-consistent augmentation, test crops, CLIP normalisation
- `video`      decord reads with a time limit and clamped indices; PyAV where decord fails or is wrong
- `layouts`    `VideoList` and the parsers for each dataset's own annotation files
- `k600`       the Kinetics-600 zero-shot splits shipped in `motecli/assets/k600_zeroshot`
- `registry`   `datasets.toml`: name a dataset once, then refer to it by name
- `store`      the HDF5 frame store written by `mote decode`, read lazily per worker
- `dataset`    the torch `Dataset` over videos or a frame store, and `collate_clips`
- `synth`      a seeded synthetic dataset of real video files for tests and demos

`sampling`, `layouts`, `k600`, `registry` and `synth` import no torch, decord or h5py;
`transforms` and `dataset` import torch, so the CLI imports them only inside
command bodies; decord and h5py are imported inside the functions that read.
"""
