"""Contrastive pretraining of the bundled tiny CLIP on the captioned synthetic world.

`mote pretrain-tiny` (loop.py) trains image and text encoders together on
(frame, caption) pairs of `data/world.py`, measures image-to-text retrieval on
colour-shape combinations it never saw (retrieval.py), and stores the weights
in the cache under a fingerprint of everything that changes them.
"""
