"""The class histogram of generated samples under a domain classifier: the mode-collapse monitor
for labelled image data (how many classes appear, and how far from uniform they are)."""
from __future__ import annotations

import numpy as np

# A class counts as covered when it receives at least this fraction of its uniform share: a few
# misclassified samples must not make a class the generator never draws look covered.
COVERED_FRACTION = 0.1
PROTOCOL = (f"classifier argmax; a class is covered with >= {COVERED_FRACTION:g} of its uniform "
            "share; KL(p_generated || uniform) in nats")


def class_histogram(predictions: np.ndarray, num_classes: int) -> dict:
    """{'classes_covered', 'class_kl_uniform', 'class_fractions' (num_classes,)}."""
    counts = np.bincount(np.asarray(predictions), minlength=num_classes)[:num_classes]
    p = counts / max(counts.sum(), 1)
    nz = p > 0
    return {
        "classes_covered": int(np.count_nonzero(p >= COVERED_FRACTION / num_classes)),
        "class_kl_uniform": float(np.sum(p[nz] * np.log(p[nz] * num_classes))),
        "class_fractions": p,
    }
