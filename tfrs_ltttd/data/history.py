"""User histories: the last H interactions strictly before a point in time.

A training example (user u, item a at time t) sees the user's last H
interactions with a timestamp strictly smaller than t: never itself, never
anything later, and never an interaction at the same instant (ties in time
have no order to trust). Evaluation and serving see the user's last H
train interactions. Histories are item rows with their graded labels, most
recent first, padded with row -1 and label 0.

The model reads them as two extra query features, `history_item_ids`
(`[batch, H]` item ids, padded with `history_padding(ids)`) and
`history_labels` (`[batch, H]` float), so that a SavedModel takes them from
the caller like any other feature.
"""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import numpy as np

from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.layers.features import HISTORY_IDS, HISTORY_LABELS, PAD_ID
PAD_ROW = -1


def history_padding(ids: np.ndarray):
  """The padding id of a history: `PAD_ID` (-1) for integer ids, "" for
  string ids."""
  return PAD_ID if np.issubdtype(np.asarray(ids).dtype, np.integer) else ""


def times(table: Mapping[str, np.ndarray]) -> np.ndarray:
  """The timestamps of a split; without a `timestamp` column, the position of
  each interaction in its user's rows (splits are kept in time order within
  each user)."""
  if "timestamp" in table:
    return np.asarray(table["timestamp"], np.float64)
  users = np.asarray(table["user"])
  order = np.argsort(users, kind="stable")
  counts = np.bincount(users) if len(users) else np.zeros(0, np.int64)
  position = np.empty(len(users), np.float64)
  position[order] = np.arange(len(users)) - np.repeat(
      np.cumsum(counts) - counts, counts)
  return position


def _sorted(users, when):
  order = np.lexsort((np.arange(len(users)), when, users))
  return order, users[order], when[order]


def _gather(items, labels, positions, valid):
  rows = np.where(valid, items[np.maximum(positions, 0)], PAD_ROW)
  grades = np.where(valid, labels[np.maximum(positions, 0)], 0.0)
  return rows.astype(np.int64), grades.astype(np.float32)


def example_histories(table: Mapping[str, np.ndarray], length: int
                      ) -> Tuple[np.ndarray, np.ndarray]:
  """For every interaction of `table`, the same user's last `length`
  interactions of `table` strictly earlier in time.

  Args:
    table: a split (`{"user", "item", "label"}`, optional `"timestamp"`).
    length: H, the history length.

  Returns:
    `(item_rows [n, H], labels [n, H])`, most recent first, padded with -1
    and 0.

  Example:

  >>> table = {"user": np.array([0, 0, 0]), "item": np.array([5, 6, 7]),
  ...          "label": np.array([1., 2., 1.]),
  ...          "timestamp": np.array([10, 20, 20])}
  >>> example_histories(table, 2)[0].tolist()
  [[-1, -1], [5, -1], [5, -1]]
  """
  if length < 0:
    raise ValueError(f"history length must be >= 0, got {length}.")
  users = np.asarray(table["user"])
  order, su, st = _sorted(users, times(table))
  n = len(users)
  items = np.asarray(table["item"])[order]
  labels = np.asarray(table["label"], np.float32)[order]
  index = np.arange(n)
  block_start = np.searchsorted(su, su, side="left")
  new_group = np.ones(n, bool)
  new_group[1:] = (su[1:] != su[:-1]) | (st[1:] != st[:-1])
  group_start = np.maximum.accumulate(np.where(new_group, index, 0))
  positions = group_start[:, None] - 1 - np.arange(length)[None, :]
  rows, grades = _gather(items, labels, positions,
                         positions >= block_start[:, None])
  out_rows = np.empty_like(rows)
  out_grades = np.empty_like(grades)
  out_rows[order], out_grades[order] = rows, grades
  return out_rows, out_grades


def latest_histories(table: Mapping[str, np.ndarray], num_users: int,
                     length: int) -> Tuple[np.ndarray, np.ndarray]:
  """Each user's last `length` interactions of `table` (all of them count):
  the history that evaluation and serving hand the model.

  Returns:
    `(item_rows [num_users, H], labels [num_users, H])`, most recent first.
  """
  users = np.asarray(table["user"])
  order, su, _ = _sorted(users, times(table))
  items = np.asarray(table["item"])[order]
  labels = np.asarray(table["label"], np.float32)[order]
  end = np.searchsorted(su, np.arange(num_users), side="right")
  start = np.searchsorted(su, np.arange(num_users), side="left")
  positions = end[:, None] - 1 - np.arange(length)[None, :]
  return _gather(items, labels, positions, positions >= start[:, None])


def features(items: Mapping[str, np.ndarray], item_id_feature: str,
             rows: np.ndarray, labels: np.ndarray) -> Dict[str, np.ndarray]:
  """The two history query features from item rows (-1 = padding)."""
  ids = np.asarray(items[item_id_feature])
  pad = history_padding(ids)
  return {HISTORY_IDS: np.where(rows >= 0, ids[np.maximum(rows, 0)], pad),
          HISTORY_LABELS: np.asarray(labels, np.float32)}


def serving_query(data: Interactions, user_rows: np.ndarray, length: int
                  ) -> Dict[str, np.ndarray]:
  """Query features of `user_rows` for evaluation or serving: the user
  features plus, when `length > 0`, the last `length` train interactions."""
  query = {name: values[user_rows] for name, values in data.users.items()}
  if length:
    rows, labels = latest_histories(data.train, data.num_users, length)
    query.update(features(data.items, data.item_id_feature, rows[user_rows],
                          labels[user_rows]))
  return query
