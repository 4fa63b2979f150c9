"""The offline protocol: retrieve each user's top-K unseen items, re-rank,
score against the held-out split."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from tfrs_ltttd._memo import traced
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.data.interactions import Interactions, take
from tfrs_ltttd.evaluation import metrics
from tfrs_ltttd.layers.transformer import PADDING_SCORE
from tfrs_ltttd.retrieval.topk import retrieve, top_k_unseen


def _score_lists(model, queries, candidates, mask):
  return model.score_lists(queries, candidates, mask, training=False,
                           correction_weight=1.0, item_item_weight=1.0)


def score_parts(model, data: Interactions, user_rows: np.ndarray,
                item_rows: np.ndarray, batch_size: int = 256
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The towers' scores, the re-ranker's correction and the item-item term
  (zeros for a model without an item-item table), `[U, K]` each, of the
  candidate lists `item_rows` (row -1 is padding): the served score at
  correction weight w and item-item weight v is `towers + w * correction
  + v * item_item`."""
  fn = traced(model, _score_lists)
  towers, corrections, item_item = [], [], []
  queries = serving_query(data, user_rows, model.query_tower.history_length)
  for start in range(0, len(user_rows), batch_size):
    lists = item_rows[start:start + batch_size]
    out = fn({n: v[start:start + batch_size] for n, v in queries.items()},
             take(data.items, np.maximum(lists, 0)), lists >= 0)
    towers.append(out["tower_scores"].numpy())
    item_item.append(out["item_item"].numpy() if "item_item" in out
                     else np.zeros_like(towers[-1]))
    corrections.append(out["scores"].numpy() - towers[-1] - item_item[-1])
  return (np.concatenate(towers), np.concatenate(corrections),
          np.concatenate(item_item))


def _weights(model) -> Tuple[float, float]:
  """The served correction and item-item weights of `model`."""
  table = getattr(model, "item_item", None)
  return (float(model.transformer.correction_weight.numpy()),
          0.0 if table is None else float(table.served_weight.numpy()))


def rerank(model, data: Interactions, user_rows: np.ndarray,
           item_rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
  """Served scores `[U, K]` for the candidate lists `item_rows` (row -1 is
  padding and scores `PADDING_SCORE`), at the model's served weights."""
  parts = score_parts(model, data, user_rows, item_rows, batch_size)
  return _served(*parts, item_rows >= 0, *_weights(model))


def _served(towers, corrections, item_item, mask, weight: float,
            item_item_weight: float) -> np.ndarray:
  return np.where(mask, towers + weight * corrections
                  + item_item_weight * item_item, PADDING_SCORE)


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
    correction_weights: Sequence[float] = (),
    with_reranker: bool = True,
    item_item_weights: Sequence[float] = (),
) -> Dict[str, Any]:
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
    correction_weights: weights of the re-ranker's correction at which to
      score the final list too (one re-ranking pass serves all).
    with_reranker: False scores the towers' order alone (the keys of the
      final list, `ndcg@k`, `mrr` and `ndcg@k_without_correction`, are
      then left out): for towers trained without their re-ranker.
    item_item_weights: weights of the item-item term (a model with an
      item-item table) at which to score the final list too, at the served
      correction weight.

  Returns:
    `recall@K` and `irretrievable@K` of the retrieval stage for K in
    `k_retrieval` and `recall_ks`, `ndcg@k` and `mrr` of the final
    (re-ranked) list, and `ndcg@k_two_tower` and `mrr_two_tower`, the same
    for the retrieval order alone, so the re-ranker's own contribution is
    visible; `ndcg@k_without_correction`, the final list served with the
    re-ranker's correction weight at 0 (the towers' score plus the served
    item-item term), so the re-ranker's own lift is visible too; with
    `correction_weights`, `ndcg@k_by_correction_weight`, a
    dict from each weight (as text, `"0.5"`) to the final NDCG@k it gives
    (at the served item-item weight); with `item_item_weights`,
    `ndcg@k_by_item_item_weight`, the same for the item-item term, and
    `by_item_item_weight`, each of these weights (as text) -> the keys of
    the final list (`ndcg@k`, `mrr`, `ndcg@k_without_correction` and
    `ndcg@k_by_correction_weight`) with the list served at it: a search
    over both weights from one retrieval and one re-ranking pass.
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
    out[f"recall@{depth}"] = metrics.recall_at_k(ranked_tower, num_relevant,
                                                 depth)
    out[f"irretrievable@{depth}"] = metrics.irretrievable_rate(
        ranked_tower[:, :depth], num_relevant)
  out[f"ndcg@{k}_two_tower"] = metrics.ndcg_at_k(ranked_tower, ideal, k)
  out["mrr_two_tower"] = metrics.mrr(ranked_tower[:, :k_retrieval])
  if not with_reranker:
    return out
  lists = rows[:, :k_retrieval]
  parts = score_parts(model, data, users, lists)
  served, served_item_item = _weights(model)

  def final(weight, item_item_weight=served_item_item):
    order = np.argsort(-_served(*parts, lists >= 0, weight,
                                item_item_weight), axis=1, kind="stable")
    return np.take_along_axis(ranked_tower[:, :k_retrieval], order, axis=1)

  def final_metrics(item_item_weight):
    ranked = final(served, item_item_weight)
    row = {f"ndcg@{k}": metrics.ndcg_at_k(ranked, ideal, k),
           "mrr": metrics.mrr(ranked),
           f"ndcg@{k}_without_correction": metrics.ndcg_at_k(
               final(0.0, item_item_weight), ideal, k)}
    if correction_weights:
      row[f"ndcg@{k}_by_correction_weight"] = {
          f"{w:g}": metrics.ndcg_at_k(final(float(w), item_item_weight),
                                      ideal, k)
          for w in correction_weights}
    return row

  out.update(final_metrics(served_item_item))
  if item_item_weights:
    by_weight = {f"{v:g}": final_metrics(float(v)) for v in item_item_weights}
    out[f"ndcg@{k}_by_item_item_weight"] = {
        v: row[f"ndcg@{k}"] for v, row in by_weight.items()}
    out["by_item_item_weight"] = by_weight
  return out


def lifts(result: Dict[str, Any], k: int = 10) -> Dict[str, float]:
  """The final list's relative NDCG@k gains, from `evaluate`'s metrics.

  Args:
    result: `evaluate`'s output (or means of it over seeds).
    k: the cut-off.

  Returns:
    `"served"`: the served list over the towers' own order (the item-item
    term included); `"reranker"`: the served list over the same list with
    the re-ranker's correction weight at 0, the re-ranker's own part (0 for
    a re-ranker that steps aside; absent from results without
    `ndcg@k_without_correction`).
  """
  def gain(base):
    return result[f"ndcg@{k}"] / base - 1.0 if base else float("nan")

  out = {"served": gain(result[f"ndcg@{k}_two_tower"])}
  if f"ndcg@{k}_without_correction" in result:
    out["reranker"] = gain(result[f"ndcg@{k}_without_correction"])
  return out


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
    out[f"recall@{depth}"] = metrics.recall_at_k(ranked, num_relevant, depth)
    out[f"irretrievable@{depth}"] = metrics.irretrievable_rate(
        ranked[:, :depth], num_relevant)
  out[f"ndcg@{k}"] = metrics.ndcg_at_k(ranked, ideal, k)
  out["mrr"] = metrics.mrr(ranked)
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
      f"recall@{k_retrieval}": metrics.recall_at_k(ranked, num_relevant),
      f"ndcg@{k}": metrics.ndcg_at_k(ranked, ideal, k),
      "mrr": metrics.mrr(ranked),
  }
