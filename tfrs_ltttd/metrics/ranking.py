"""Ranking metrics as plain numpy functions over ranked label matrices.

Every function takes `labels`: `[num_queries, list_size]` graded relevance of
the items a system returned, in the order it ranked them (0 = not relevant).
Queries with no relevant item at all are the caller's to drop.
"""

from __future__ import annotations

from typing import Optional

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
