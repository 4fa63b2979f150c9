"""Item-item scores of candidates from a user's history (EASE's weights)."""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd.layers.features import row_table, rows_of


def ease_weights(x: np.ndarray, l2: float) -> np.ndarray:
  """EASE's item-item weights `B` `[num_items, num_items]` (float32).

  `B = argmin ||X - X B||^2 + l2 ||B||^2` with `diag(B) = 0`, solved as
  `P = (X^T X + l2 I)^-1`, `B = -P / diag(P)` (column-wise), `diag(B) = 0`;
  a user's scores are `x_u B`.

  Args:
    x: `[num_users, num_items]` interactions (1 where the user chose the item).
    l2: the L2 penalty, > 0.

  Raises:
    ValueError: for `l2 <= 0`.

  References:
    H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data",
    WWW 2019, arXiv 1905.03375.
  """
  if not l2 > 0:
    raise ValueError(f"EASE: l2 must be > 0, got {l2}.")
  x = np.asarray(x, np.float32)
  gram = (x.T @ x).astype(np.float64)  # counts: exact in float32
  gram[np.diag_indices_from(gram)] += l2
  p = np.linalg.inv(gram)
  b = -p / np.diag(p)[None, :]
  np.fill_diagonal(b, 0.0)
  return b.astype(np.float32)


def top_neighbours(weights: np.ndarray, num_neighbours: int
                   ) -> Tuple[np.ndarray, np.ndarray]:
  """Each row's `num_neighbours` largest weights, as a sparse table.

  Args:
    weights: `[num_items, num_items]`, row `h` the weights item `h` gives
      the others (EASE's `B`).
    num_neighbours: N, the neighbours kept per item (capped at the items).

  Returns:
    `(rows [num_items, N] int64, values [num_items, N] float32)`, largest
    first.
  """
  if num_neighbours < 1:
    raise ValueError(f"num_neighbours must be >= 1, got {num_neighbours}.")
  weights = np.asarray(weights, np.float32)
  n = min(num_neighbours, weights.shape[1])
  top = np.argpartition(-weights, n - 1, axis=1)[:, :n]
  values = np.take_along_axis(weights, top, axis=1)
  order = np.argsort(-values, axis=1, kind="stable")
  top = np.take_along_axis(top, order, axis=1)
  values = np.take_along_axis(values, order, axis=1)
  return top.astype(np.int64), values.astype(np.float32)


def scaled_like(scores: tf.Tensor, reference: tf.Tensor,
                mask: tf.Tensor) -> tf.Tensor:
  """`scores` standardised over each list's real slots, times the spread of
  `reference` there: `std(reference) * (scores - mean(scores)) /
  std(scores)`, 0 on padded slots and in lists where `scores` is flat.

  Added to `reference` with weight w, it orders a list as the sum of both
  standardised scores would, `z(reference) + w z(scores)`, whatever the
  scale of either.

  Args:
    scores, reference: `[B, L]`.
    mask: `[B, L]` bool, True for real slots.
  """
  real = tf.cast(mask, tf.float32)
  count = tf.maximum(tf.reduce_sum(real, axis=1, keepdims=True), 1.0)

  def moments(x):
    mean = tf.reduce_sum(x * real, axis=1, keepdims=True) / count
    spread = tf.sqrt(tf.reduce_sum(tf.square(x - mean) * real, axis=1,
                                   keepdims=True) / count)
    return mean, spread

  mean, spread = moments(scores)
  _, reference_spread = moments(tf.where(mask, reference, 0.0))
  z = tf.math.divide_no_nan(scores - mean, spread)
  return tf.where(mask, reference_spread * z, 0.0)


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class ItemItemScores(tf.keras.layers.Layer):
  """Scores each candidate by the item-item weights of a user's history.

  `score(j) = sum_h W[h, j]` over the real items `h` of the history, `W` a
  sparse item-item table: each item's `num_neighbours` strongest neighbours
  (`set_table`, e.g. `top_neighbours(ease_weights(x, l2), N)`). With every
  neighbour kept this is EASE's score `x_u B` restricted to the history. It
  sees what a dot product of two pooled vectors smooths away, one weight
  per pair of items, and needs only stock ops: the history's neighbours are
  sorted once per query and each candidate is found by binary search, so a
  query holds `H x N` values whatever the list or catalogue size.

  In a served score they are added as `weight * scaled_like(scores,
  tower_scores, mask)`, `weight` being the non-trainable variable
  `served_weight` (0 when built, so that a model serves its re-ranker's
  score until a weight is chosen, on validation).

  Args:
    vocabulary: the item ids, in row order.
    num_neighbours: N, neighbours per item.
    **kwargs: passed to `tf.keras.layers.Layer`.

  Call args:
    history_ids: `[B, H]` item ids; padding (-1, or "" for string ids) and
      unknown ids add nothing.
    candidate_ids: `[B, L]` item ids; padding and unknown ids score 0.

  Returns:
    `[B, L]` float32 scores.

  Example:

  >>> layer = ItemItemScores([10, 11, 12], num_neighbours=2)
  >>> layer.set_table(np.array([[1, 2], [0, -1], [0, 1]]),
  ...                 np.array([[0.5, 0.25], [1.0, 0.0], [2.0, 3.0]]))
  >>> layer(tf.constant([[10, 12, -1]]), tf.constant([[11, 12, 10]])).numpy()
  array([[3.5 , 0.25, 2.  ]], dtype=float32)
  """

  def __init__(self, vocabulary: Sequence[Any], num_neighbours: int,
               **kwargs):
    super().__init__(**kwargs)
    vocabulary = np.asarray(vocabulary)
    if vocabulary.ndim != 1 or not len(vocabulary):
      raise ValueError("ItemItemScores: vocabulary must be a non-empty list "
                       f"of item ids, got shape {vocabulary.shape}.")
    if len(np.unique(vocabulary)) != len(vocabulary):
      raise ValueError("ItemItemScores: item ids must be unique.")
    if num_neighbours < 1:
      raise ValueError(
          f"ItemItemScores: num_neighbours must be >= 1, got {num_neighbours}.")
    self.vocabulary = vocabulary
    self.num_neighbours = int(num_neighbours)
    self._row_of = row_table(vocabulary)
    shape = (len(vocabulary), self.num_neighbours)
    self.neighbours = self.add_weight(
        name="neighbours", shape=shape, dtype=tf.int64, trainable=False,
        initializer=tf.keras.initializers.Constant(-1))
    self.neighbour_weights = self.add_weight(
        name="neighbour_weights", shape=shape, trainable=False,
        initializer="zeros")
    self.served_weight = self.add_weight(
        name="served_weight", shape=(), trainable=False, initializer="zeros")

  def set_served_weight(self, weight: float) -> None:
    """Sets the weight of these scores in the served score (0: none)."""
    if not weight >= 0:
      raise ValueError(f"served_weight must be >= 0, got {weight}.")
    self.served_weight.assign(float(weight))

  def set_table(self, rows: np.ndarray, values: np.ndarray) -> None:
    """Sets the table: `rows` `[num_items, N]` neighbour rows (-1: none) and
    their `values`, as `top_neighbours` returns them."""
    rows, values = np.asarray(rows, np.int64), np.asarray(values, np.float32)
    want = (len(self.vocabulary), self.num_neighbours)
    if rows.shape != want or values.shape != want:
      raise ValueError(f"ItemItemScores.set_table: rows and values must be "
                       f"{want}, got {rows.shape} and {values.shape}.")
    if rows.min() < -1 or rows.max() >= want[0]:
      raise ValueError("ItemItemScores.set_table: rows must be item rows "
                       f"in [0, {want[0]}) or -1.")
    self.neighbours.assign(rows)
    self.neighbour_weights.assign(np.where(rows >= 0, values, 0.0))

  def _rows(self, ids: tf.Tensor) -> tf.Tensor:
    return rows_of(self._row_of, ids, "ItemItemScores")

  def call(self, history_ids: tf.Tensor, candidate_ids: tf.Tensor
           ) -> tf.Tensor:
    history = self._rows(history_ids)  # [B, H], -1: padding or unknown
    candidates = self._rows(candidate_ids)  # [B, L]
    real = history >= 0
    safe = tf.where(real, history, 0)
    rows = tf.gather(self.neighbours, safe)  # [B, H, N]
    values = tf.gather(self.neighbour_weights, safe) * tf.cast(
        real, tf.float32)[..., None]
    batch = tf.shape(history)[0]
    rows = tf.reshape(rows, [batch, -1])
    values = tf.reshape(values, [batch, -1])
    order = tf.argsort(rows, axis=1, stable=True)
    rows = tf.gather(rows, order, batch_dims=1)
    totals = tf.concat([tf.zeros([batch, 1]), tf.cumsum(
        tf.gather(values, order, batch_dims=1), axis=1)], axis=1)
    low = tf.searchsorted(rows, candidates, side="left")
    high = tf.searchsorted(rows, candidates, side="right")
    scores = (tf.gather(totals, high, batch_dims=1)
              - tf.gather(totals, low, batch_dims=1))
    return tf.where(candidates >= 0, scores, 0.0)

  def get_config(self) -> Dict[str, Any]:
    config = super().get_config()
    config.update({"vocabulary": self.vocabulary.tolist(),
                   "num_neighbours": self.num_neighbours})
    return config
