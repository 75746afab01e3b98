"""`mote eval`, `mote results` and the few-shot fast path.

- view fusion (per-view cosine -> softmax over classes -> mean over views) is `model.scoring.fuse_views`
- `metrics`   streaming accuracy accumulator (top-1/5, per class, half-classes)
- `protocols` views per protocol, splits, half-classes as the release computes them, mean/std
- `scoring`   head on cached frame features, with modulation and a scale sweep
- `runner`    one evaluation: caches in, results out
- `batch`     several checkpoints in one call
- `report`    the results file (identity, name, detail CSVs) and the rich tables
- `results`   HM_ZS / trade-off rows across results files (`mote results`; no torch)
- `published` the published results of MoTE and its peers (package data)
- `plots`     per-class, trade-off beside the published results, per-dataset bars
- `fewshot`   seeded K-shot lists and head-only training on cached features
"""
