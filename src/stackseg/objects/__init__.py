"""Objects: predicted masks -> instance labels, and object-level metrics against true ids.

`instances` (post-processing), `matching` (IoU between true and predicted objects,
one-to-one matching, splits and merges), `metrics` (precision, recall, F1, panoptic quality,
DSB average precision, pooled over frames). Used by evaluate and infer for labels models
(`prepare.mask_format: labels`); see docs/objects.md.
"""
