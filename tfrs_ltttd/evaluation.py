"""Two-stage evaluation: retrieve top-K over the catalogue, re-rank, score."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.data.interactions import Interactions, per_user, take
from tfrs_ltttd.metrics import ranking
from tfrs_ltttd.retrieval.index import build_index, encode_catalogue


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
  query_fn = tf.function(lambda x: model.query_tower(x, training=False),
                         reduce_retracing=True)
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


def rerank(model, data: Interactions, user_rows: np.ndarray,
           item_rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """Transformer scores `[U, K]` for the candidate lists `item_rows`
  (row -1 is padding and scores `PADDING_SCORE`)."""
  fn = tf.function(lambda q, c, m: model(
      {"query": q, "candidates": c, "mask": m}, training=False),
                   reduce_retracing=True)
  out = []
  queries = serving_query(data, user_rows, model.query_tower.history_length)
  for start in range(0, len(user_rows), batch_size):
    lists = item_rows[start:start + batch_size]
    out.append(fn({n: v[start:start + batch_size] for n, v in queries.items()},
                  take(data.items, np.maximum(lists, 0)), lists >= 0).numpy())
  return np.concatenate(out)


def _relevance(data: Interactions, split: str, user_rows, item_rows):
  """Labels of `item_rows` [U, K] for each user in `split`, and ideal lists."""
  table = getattr(data, split)
  keep = table["label"] > 0
  keys = table["user"][keep] * data.num_items + table["item"][keep]
  order = np.argsort(keys)
  keys, labels = keys[order], table["label"][keep][order]
  query = user_rows[:, None] * data.num_items + item_rows
  pos = np.clip(np.searchsorted(keys, query), 0, max(len(keys) - 1, 0))
  found = (keys[pos] == query if len(keys) else np.zeros(query.shape, bool))
  found &= item_rows >= 0  # padding
  ranked = np.where(found, labels[pos] if len(keys) else 0, 0.0)
  per_user = {}
  for u, y in zip(table["user"][keep], table["label"][keep]):
    per_user.setdefault(int(u), []).append(float(y))
  width = max([len(v) for v in per_user.values()] + [1])
  ideal = np.zeros((len(user_rows), width))
  for row, u in enumerate(user_rows):
    ys = per_user.get(int(u), [])
    ideal[row, :len(ys)] = ys
  return ranked, ideal


def evaluate(
    model,
    data: Interactions,
    k_retrieval: int = 100,
    k: int = 10,
    split: str = "test",
    max_users: Optional[int] = None,
    recall_ks: Sequence[int] = (),
) -> Dict[str, float]:
  """Scores the full two-stage pipeline on the held-out split.

  For each user with a relevant item in `split`: the towers retrieve the
  top `k_retrieval` items (train items excluded), the transformer re-ranks
  them, and the top `k` is scored.

  Args:
    model: a trained `LTTTDModel` (or the cascade's model).
    data: the interactions.
    k_retrieval: K, the retrieval depth handed to the re-ranker.
    k: cut-off of the final ranking.
    split: "test" (or "train", for diagnostics).
    max_users: evaluate at most this many users (the first ones).
    recall_ks: more retrieval depths at which to report recall and the
      irretrievable rate (one retrieval pass serves all).

  Returns:
    `recall@K` and `irretrievable@K` of the retrieval stage for K in
    `k_retrieval` and `recall_ks`, `ndcg@k` and `mrr` of the final
    (re-ranked) list, and `ndcg@k_two_tower` and `mrr_two_tower`, the same
    for the retrieval order alone, so the re-ranker's own contribution is
    visible.
  """
  table = getattr(data, split)
  users = np.unique(table["user"][table["label"] > 0])
  if max_users is not None:
    users = users[:max_users]
  depths = sorted({k_retrieval, *(d for d in recall_ks
                                   if d <= data.num_items)})
  _, rows = retrieve(model, data, users, max(depths))
  ranked_tower, ideal = _relevance(data, split, users, rows)
  num_relevant = (ideal > 0).sum(axis=1)
  out = {}
  for depth in depths:
    out[f"recall@{depth}"] = ranking.recall_at_k(ranked_tower, num_relevant,
                                                 depth)
    out[f"irretrievable@{depth}"] = ranking.irretrievable_rate(
        ranked_tower[:, :depth], num_relevant)
  scores = rerank(model, data, users, rows[:, :k_retrieval])
  order = np.argsort(-scores, axis=1, kind="stable")
  ranked = np.take_along_axis(ranked_tower[:, :k_retrieval], order, axis=1)
  out[f"ndcg@{k}"] = ranking.ndcg_at_k(ranked, ideal, k)
  out["mrr"] = ranking.mrr(ranked)
  out[f"ndcg@{k}_two_tower"] = ranking.ndcg_at_k(ranked_tower, ideal, k)
  out["mrr_two_tower"] = ranking.mrr(ranked_tower[:, :k_retrieval])
  return out


def list_positive_share(model, data: Interactions, k: int = 100,
                        list_holdout_fraction: float = 0.0,
                        max_examples: int = 20000, seed: int = 0,
                        batch_size: int = 512) -> Dict[str, float]:
  """The train/serve skew of the lists, measured.

  `train_lists`: the share of the re-ranker's training positives (the
  anchors of `build_lists` with this `list_holdout_fraction`) that the
  towers rank in their own top `k` for the example's query (the user's
  features and history before it), items seen before it excluded, as at
  serving. `test`: the same share for the test positives (recall-like,
  pooled). When the first is far above the second, the lists' two-tower
  scores are inflated by the retrieval loss that fitted their positives,
  and a re-ranker that reads them learns to trust them too much.
  """
  from tfrs_ltttd.data import history as history_lib  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.data import lists as lists_lib  # pylint: disable=g-import-not-at-top

  train = data.train
  when = history_lib.times(train)
  chosen = np.flatnonzero((train["label"] > 0) & lists_lib._list_part(  # pylint: disable=protected-access
      data, list_holdout_fraction))
  if len(chosen) > max_examples:
    chosen = np.sort(np.random.default_rng(seed).choice(
        chosen, max_examples, replace=False))
  length = model.query_tower.history_length
  query = {name: values[train["user"][chosen]]
           for name, values in data.users.items()}
  if length:
    rows, labels = history_lib.example_histories(train, length)
    query.update(history_lib.features(data.items, data.item_id_feature,
                                      rows[chosen], labels[chosen]))
  items, _ = encode_catalogue(model.item_tower, data.items)
  seen_items = per_user(train["user"], data.num_users, train["item"], -1)
  seen_times = per_user(train["user"], data.num_users, when, np.inf)
  hits = 0
  for start in range(0, len(chosen), batch_size):
    part = chosen[start:start + batch_size]
    q = model.query_tower({n: v[start:start + batch_size]
                           for n, v in query.items()}, training=False).numpy()
    scores = q @ items.T
    users = train["user"][part]
    earlier = (seen_times[users] < when[part][:, None]) & (
        seen_items[users] >= 0)
    rows_ = np.where(earlier, seen_items[users], train["item"][part][:, None])
    np.put_along_axis(scores, rows_, np.where(
        earlier, -np.inf, np.take_along_axis(scores, rows_, axis=1)), axis=1)
    own = scores[np.arange(len(part)), train["item"][part]]
    hits += int(np.sum((scores > own[:, None]).sum(axis=1) < k))
  test = evaluate(model, data, k_retrieval=k)
  return {"train_lists": hits / max(len(chosen), 1),
          "test": 1.0 - test[f"irretrievable@{k}"]}


def top_k_unseen(scores: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
  """Rows of the `k` best `scores` `[U, N]` per user, `seen` `[U, N]` items
  excluded (-1 where fewer than k remain); equal scores in row order (a full
  stable sort, so ties do not depend on the numpy version)."""
  scores = np.where(seen, -np.inf, scores.astype(np.float64))
  k = min(k, scores.shape[1])
  top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  return np.where(np.isfinite(np.take_along_axis(scores, top, axis=1)), top,
                  -1)


def evaluate_scores(score_fn, data: Interactions, k_retrieval: int = 100,
                    k: int = 10, split: str = "test",
                    recall_ks: Sequence[int] = (),
                    batch_size: int = 1024) -> Dict[str, float]:
  """The metrics of `evaluate` for a one-stage model given as user x item
  scores (popularity, EASE): its order is both the retrieval and the final
  ranking.

  Args:
    score_fn: `user_rows [U] -> scores [U, num_items]`.
    data, k_retrieval, k, split, recall_ks: as in `evaluate`.
    batch_size: users scored at once.
  """
  table = getattr(data, split)
  users = np.unique(table["user"][table["label"] > 0])
  depths = sorted({k_retrieval, *(d for d in recall_ks
                                   if d <= data.num_items)})
  rows = []
  for start in range(0, len(users), batch_size):
    batch = users[start:start + batch_size]
    seen = np.zeros((len(batch), data.num_items), bool)
    mine = np.isin(data.train["user"], batch)
    position = np.searchsorted(batch, data.train["user"][mine])
    seen[position, data.train["item"][mine]] = True
    rows.append(top_k_unseen(score_fn(batch), seen, max(depths)))
  rows = np.concatenate(rows)
  ranked, ideal = _relevance(data, split, users, rows)
  num_relevant = (ideal > 0).sum(axis=1)
  out = {}
  for depth in depths:
    out[f"recall@{depth}"] = ranking.recall_at_k(ranked, num_relevant, depth)
    out[f"irretrievable@{depth}"] = ranking.irretrievable_rate(
        ranked[:, :depth], num_relevant)
  out[f"ndcg@{k}"] = ranking.ndcg_at_k(ranked, ideal, k)
  out["mrr"] = ranking.mrr(ranked)
  return out


def random_baseline(data: Interactions, k_retrieval: int = 100, k: int = 10,
                    split: str = "test", seed: int = 0) -> Dict[str, float]:
  """The same metrics for a uniformly random ranking of unseen items."""
  rng = np.random.default_rng(seed)
  table = getattr(data, split)
  users = np.unique(table["user"][table["label"] > 0])
  seen = np.zeros((data.num_users, data.num_items), bool)
  seen[data.train["user"], data.train["item"]] = True
  keys = rng.random((len(users), data.num_items)) + seen[users]
  rows = np.argsort(keys, axis=1)[:, :k_retrieval]
  ranked, ideal = _relevance(data, split, users, rows)
  num_relevant = (ideal > 0).sum(axis=1)
  return {
      f"recall@{k_retrieval}": ranking.recall_at_k(ranked, num_relevant),
      f"ndcg@{k}": ranking.ndcg_at_k(ranked, ideal, k),
      "mrr": ranking.mrr(ranked),
  }
