"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), computed over 10 splits
of the samples (mean and std over splits), from a classifier's logits."""
from __future__ import annotations

import numpy as np


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over `splits` consecutive splits; 1 for constant predictions, up to the
    number of classes for confident predictions spread evenly over the classes."""
    logp = _log_softmax(np.asarray(logits, np.float64))
    splits = max(1, min(splits, len(logp)))
    scores = []
    for part in np.array_split(logp, splits):
        p = np.exp(part)
        log_marginal = np.log(p.mean(axis=0) + 1e-30)
        scores.append(np.exp(np.mean(np.sum(p * (part - log_marginal), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))
