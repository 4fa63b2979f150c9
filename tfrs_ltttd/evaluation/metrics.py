"""Ranking metrics as plain numpy functions over ranked label matrices, and
UPQE.

Every ranking function takes `labels`: `[num_queries, list_size]` graded
relevance of the items a system returned, in the order it ranked them (0 =
not relevant). Queries with no relevant item at all are the caller's to drop.

UPQE, the Unified Performance-Quality-Efficiency score, is introduced by the
LT-TTD paper (arXiv 2505.04434) as a metric that "holistically captures
retrieval quality, ranking performance, and computational efficiency"; the
paper gives no formula, so the package defines it as

    UPQE = R^a * Q^b * E^c,   a + b + c = 1,

with R = recall@K of the retrieval stage, Q = NDCG@k of the final list and
E = min(1, budget_ms / p50_latency_ms). A weighted geometric mean: a system
cannot buy one component with the collapse of another.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np


def _check(labels: np.ndarray, k: Optional[int]) -> np.ndarray:
  labels = np.asarray(labels, np.float64)
  if labels.ndim != 2:
    raise ValueError(f"labels must be [num_queries, list_size], got shape "
                     f"{labels.shape}.")
  if k is not None and k < 1:
    raise ValueError(f"k must be >= 1, got {k}.")
  return labels


def recall_at_k(labels: np.ndarray, num_relevant: np.ndarray,
                k: Optional[int] = None) -> float:
  """Mean over queries of |relevant in top k| / |relevant|.

  Args:
    labels: `[Q, K]` ranked relevance.
    num_relevant: `[Q]` relevant items per query (all of them, not only
      those returned); must be > 0.
    k: cut-off; default the whole list.

  Returns:
    Mean recall@k.
  """
  labels = _check(labels, k)
  num_relevant = np.asarray(num_relevant, np.float64)
  if np.any(num_relevant <= 0):
    raise ValueError("num_relevant must be > 0 for every query.")
  hits = (labels[:, :k] > 0).sum(axis=1)
  return float(np.mean(hits / num_relevant))


def dcg(labels: np.ndarray, k: Optional[int] = None) -> np.ndarray:
  """Per-query DCG@k with gain 2^y - 1 and discount 1 / log2(rank + 1)."""
  labels = _check(labels, k)[:, :k]
  discounts = 1.0 / np.log2(np.arange(2, labels.shape[1] + 2))
  return ((2.0**labels - 1.0) * discounts).sum(axis=1)


def ndcg_at_k(labels: np.ndarray, ideal_labels: np.ndarray,
              k: Optional[int] = None) -> float:
  """Mean NDCG@k; the ideal order is all relevant labels sorted descending.

  Args:
    labels: `[Q, K]` ranked relevance of the returned items.
    ideal_labels: `[Q, R]` labels of every relevant item of each query
      (padded with 0), whether returned or not.
    k: cut-off; default the whole list.

  Returns:
    Mean NDCG@k (the TF-Ranking definition, with the ideal DCG taken over
    all relevant items, so missed items count against the system).
  """
  ideal = -np.sort(-_check(ideal_labels, None), axis=1)
  ideal_dcg = dcg(ideal, k)
  if np.any(ideal_dcg <= 0):
    raise ValueError("every query needs at least one relevant item in "
                     "ideal_labels.")
  return float(np.mean(dcg(labels, k) / ideal_dcg))


def mrr(labels: np.ndarray, k: Optional[int] = None) -> float:
  """Mean reciprocal rank of the first relevant item within the top k."""
  labels = _check(labels, k)[:, :k] > 0
  first = np.argmax(labels, axis=1)
  return float(np.mean(np.where(labels.any(axis=1), 1.0 / (first + 1), 0.0)))


def irretrievable_rate(retrieved_labels: np.ndarray,
                       num_relevant: np.ndarray) -> float:
  """Share of all relevant items that the retrieval stage's top-K misses.

  Pooled over queries (every relevant item counts once), so it reads as "of
  the relevant items, this share can never be shown by any re-ranker"
  (Proposition 1 of the LT-TTD paper). Note that `1 - recall@K` is the
  per-query mean instead.

  Args:
    retrieved_labels: `[Q, K]` relevance of the retrieved items.
    num_relevant: `[Q]` relevant items per query, retrieved or not.

  Returns:
    The irretrievable-relevant rate in [0, 1].
  """
  retrieved_labels = _check(retrieved_labels, None)
  total = float(np.sum(num_relevant))
  if total <= 0:
    raise ValueError("num_relevant must hold at least one relevant item.")
  return 1.0 - float((retrieved_labels > 0).sum()) / total


DEFAULT_WEIGHTS = (0.4, 0.4, 0.2)
DEFAULT_BUDGET_MS = 10.0


def upqe(recall: float, ndcg: float, latency_ms: float,
         budget_ms: float = DEFAULT_BUDGET_MS,
         weights: Tuple[float, float, float] = DEFAULT_WEIGHTS) -> float:
  """Returns `recall^a * ndcg^b * min(1, budget_ms / latency_ms)^c`.

  Args:
    recall: recall@K of the retrieval stage, in [0, 1].
    ndcg: NDCG@k of the final ranking, in [0, 1].
    latency_ms: p50 latency of one recommendation request, > 0.
    budget_ms: the latency that earns full efficiency, > 0.
    weights: `(a, b, c)`, non-negative, summing to 1.

  Returns:
    UPQE in [0, 1].

  Example:

  >>> round(upqe(0.5, 0.25, 20.0), 4)  # 0.5^.4 * 0.25^.4 * 0.5^.2
  0.3789
  """
  for name, value in (("recall", recall), ("ndcg", ndcg)):
    if not 0.0 <= value <= 1.0:
      raise ValueError(f"{name} must be in [0, 1], got {value}.")
  if latency_ms <= 0 or budget_ms <= 0:
    raise ValueError(f"latency_ms and budget_ms must be > 0, got "
                     f"{latency_ms} and {budget_ms}.")
  if len(weights) != 3 or min(weights) < 0 or abs(sum(weights) - 1) > 1e-6:
    raise ValueError(f"weights must be 3 non-negative numbers summing to 1, "
                     f"got {weights}.")
  a, b, c = weights
  efficiency = min(1.0, budget_ms / latency_ms)
  return float(recall**a * ndcg**b * efficiency**c)
