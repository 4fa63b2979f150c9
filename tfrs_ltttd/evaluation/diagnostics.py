"""Diagnostics of a trained model beyond the protocol's metrics."""

from __future__ import annotations

from typing import Dict

import numpy as np

from tfrs_ltttd.data import history as history_lib
from tfrs_ltttd.data.interactions import Interactions, per_user
from tfrs_ltttd.evaluation.protocol import evaluate
from tfrs_ltttd.lists.build import list_part
from tfrs_ltttd.retrieval.index import encode_catalogue


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
  train = data.train
  when = history_lib.times(train)
  chosen = np.flatnonzero((train["label"] > 0) & list_part(
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
