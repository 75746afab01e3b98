"""`mote eval` and the few-shot fast path.

- `fusion`    per-view cosine -> softmax over classes -> mean over views
- `metrics`   streaming accuracy accumulator (top-1/5, per class, half-classes)
- `protocols` views per protocol, splits, half-class draws, mean/std, HM_ZS, trade-off
- `scoring`   head on cached frame features, with modulation and a scale sweep
- `runner`    one evaluation: caches in, results out
- `report`    rich table and the JSON results file
- `fewshot`   seeded K-shot lists and head-only training on cached features
"""
