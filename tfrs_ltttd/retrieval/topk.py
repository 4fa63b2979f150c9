"""Each user's top-k unseen items: the towers' (`retrieve`) or any score
matrix's (`top_k_unseen`)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from tfrs_ltttd._memo import traced
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.data.interactions import Interactions, per_user
from tfrs_ltttd.retrieval.index import build_index, encode_catalogue


def _encode_queries(tower, queries):
  return tower(queries, training=False)


def retrieve(
    model,
    data: Interactions,
    user_rows: np.ndarray,
    k: int,
    exclude_train: bool = True,
    batch_size: int = 1024,
) -> Tuple[np.ndarray, np.ndarray]:
  """Exact top-k item rows per user from the item tower over the catalogue.

  Uses a BruteForce index (`tfrs_ltttd.retrieval.build_index`). With
  `exclude_train`, the items a user interacted with in train are excluded
  (the usual protocol for implicit feedback): the index is asked for
  `k + (most items any user has seen)` results and the seen ones dropped.

  Returns:
    `(scores [U, k], item_rows [U, k])`, scores being `<e_q, e_i>`; a user
    with fewer than k unseen items gets row -1 (score -inf) in the tail.
  """
  if not 1 <= k <= data.num_items:
    raise ValueError(f"k must be in [1, {data.num_items}] (the catalogue "
                     f"size), got {k}.")
  seen = (per_user(data.train["user"], data.num_users, data.train["item"], -1)
          if exclude_train else np.zeros((0, 0), np.int64))
  depth = min(data.num_items, k + seen.shape[1])
  embeddings, _ = encode_catalogue(model.item_tower, data.items)
  index = build_index(embeddings, kind="bruteforce", k=depth,
                      batch_size=batch_size)
  query_fn = traced(model.query_tower, _encode_queries)
  scores = np.full((len(user_rows), k), -np.inf, np.float32)
  rows = np.full((len(user_rows), k), -1, np.int64)
  queries = serving_query(data, user_rows, model.query_tower.history_length)
  for start in range(0, len(user_rows), batch_size):
    users = user_rows[start:start + batch_size]
    q = query_fn({n: v[start:start + batch_size]
                  for n, v in queries.items()})
    s, r = (t.numpy() for t in index(q, k=depth))
    for j, user in enumerate(users):
      keep = ~np.isin(r[j], seen[user]) if exclude_train else slice(None)
      found_rows, found_scores = r[j][keep][:k], s[j][keep][:k]
      rows[start + j, :len(found_rows)] = found_rows
      scores[start + j, :len(found_rows)] = found_scores
  return scores, rows


def top_k_unseen(scores: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
  """Rows of the `k` best `scores` `[U, N]` per user, `seen` `[U, N]` items
  excluded (-1 where fewer than k remain); equal scores in row order (a full
  stable sort, so ties do not depend on the numpy version)."""
  scores = np.where(seen, -np.inf, scores.astype(np.float64))
  k = min(k, scores.shape[1])
  top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  return np.where(np.isfinite(np.take_along_axis(scores, top, axis=1)), top,
                  -1)
