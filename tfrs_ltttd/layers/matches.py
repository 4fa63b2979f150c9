"""History matches: how much of a user's history shares each item attribute
with a candidate."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd.layers.features import describe_features, row_table, rows_of

def item_attributes(items: Mapping[str, np.ndarray], item_id_feature: str
                    ) -> Dict[str, Tuple[np.ndarray, int]]:
  """Each item's values of its categorical attributes, as value indices.

  An attribute is a categorical item feature other than the id (a string or
  integer column: one value per item; the empty string is none), or the 0/1
  flags `<name>_<value>` that a multi-valued column becomes (one attribute
  `<name>`: the values whose flag is 1). Numeric features are not
  attributes.

  Args:
    items: the item feature table (`Interactions.items`).
    item_id_feature: the id column, left out.

  Returns:
    attribute name -> `(values [num_items, M] int64, num_values)`: row `i`
    holds item `i`'s value indices in `[0, num_values)`, padded with -1 to
    the most values any item has (`M`, at least 1).

  Example:

  >>> values, size = item_attributes(
  ...     {"id": np.array([7, 8]), "genre_a": np.array([1., 1.]),
  ...      "genre_b": np.array([0., 1.])}, "id")["genre"]
  >>> values.tolist(), size
  ([[0, -1], [0, 1]], 2)
  """
  vocabularies, numeric = describe_features(items)
  flags: Dict[str, list] = {}
  for name, (mean, variance) in numeric.items():
    values = np.asarray(items[name])
    if (mean, variance) == (0.0, 1.0) and np.isin(values, (0.0, 1.0)).all():
      flags.setdefault(name.rsplit("_", 1)[0], []).append(values > 0.5)
  out = {}
  for name, vocabulary in vocabularies.items():
    if name == item_id_feature:
      continue
    column = np.asarray(items[name])
    if isinstance(vocabulary[0], str):  # describe_features' sorted values
      column = column.astype(str)
    known = np.asarray([v for v in vocabulary if v != ""])
    at = np.minimum(np.searchsorted(known, column), max(len(known) - 1, 0))
    found = (known[at] == column) if len(known) else np.zeros(len(column),
                                                               bool)
    out[name] = (np.where(found, at, -1).astype(np.int64)[:, None],
                 max(len(known), 1))
  for name, columns in flags.items():
    held = np.stack(columns, axis=1)  # [num_items, num_values]
    width = max(int(held.sum(axis=1).max(initial=0)), 1)
    # Each row's held values first, in order: a stable sort of "not held".
    order = np.argsort(~held, axis=1, kind="stable")[:, :width]
    out[name] = (np.where(np.take_along_axis(held, order, axis=1), order,
                          -1).astype(np.int64), held.shape[1])
  return out


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class HistoryMatches(tf.keras.layers.Layer):
  """How much of a user's history shares each attribute with a candidate.

  For each attribute (a category, a brand, the genres; `item_attributes`)
  and each candidate `j`, two features, in this order:

  - `share`: the share of the history's real items holding a value of
    `j`'s, averaged over `j`'s values (0 for an item with none);
  - `latest`: 1 if the most recent history item holds a value of `j`'s.

  These are the crosses of a candidate with the history that a dot product
  of two pooled vectors blurs (a brand among hundreds that the user bought
  before), given to the re-ranker as they are. They read only the history
  a query carries, so a training list's features see nothing of its
  positive. Stock ops only: the tables are non-trainable variables, and a
  query holds `(H + L) x M` values per attribute whatever the catalogue
  size or the number of values (`M`: the most values an item has).

  Args:
    vocabulary: the item ids, in row order.
    attributes: attribute name -> `(max_values, num_values)`, the shapes
      of its table (`item_attributes` gives the tables).
    **kwargs: passed to `tf.keras.layers.Layer`.

  Call args:
    history_ids: `[B, H]` item ids, most recent first; padding (-1, or ""
      for string ids) and unknown ids count as no item.
    candidate_ids: `[B, L]` item ids; padding and unknown ids get zeros.

  Returns:
    `[B, L, 2 * num_attributes]` float32: for each attribute in sorted
    order, its `share` and `latest`.

  Example:

  >>> layer = HistoryMatches([10, 11, 12], {"brand": (1, 2)})
  >>> layer.set_tables({"brand": np.array([[0], [1], [0]])})
  >>> layer(tf.constant([[12, 11, -1]]), tf.constant([[10, 11]])).numpy()
  array([[[0.5, 1. ],
          [0.5, 0. ]]], dtype=float32)
  """

  def __init__(self, vocabulary: Sequence[Any],
               attributes: Mapping[str, Sequence[int]], **kwargs):
    super().__init__(**kwargs)
    vocabulary = np.asarray(vocabulary)
    if vocabulary.ndim != 1 or not len(vocabulary):
      raise ValueError("HistoryMatches: vocabulary must be a non-empty list "
                       f"of item ids, got shape {vocabulary.shape}.")
    if not attributes:
      raise ValueError("HistoryMatches: no attributes to match (the items "
                       "have no categorical feature besides the id).")
    self.vocabulary = vocabulary
    self.attributes = {name: (int(m), int(v))
                       for name, (m, v) in sorted(attributes.items())}
    for name, (width, size) in self.attributes.items():
      if width < 1 or size < 1:
        raise ValueError(f"HistoryMatches: attribute '{name}' needs "
                         f"max_values and num_values >= 1, got {width}, "
                         f"{size}.")
    self._row_of = row_table(vocabulary)
    self.tables = {
        name: self.add_weight(
            name=f"{name}_values", shape=(len(vocabulary), width),
            dtype=tf.int64, trainable=False,
            initializer=tf.keras.initializers.Constant(-1))
        for name, (width, _) in self.attributes.items()}

  def set_tables(self, tables: Mapping[str, np.ndarray]) -> None:
    """Sets each attribute's values `[num_items, max_values]` (value
    indices, -1: none), as `item_attributes` gives them."""
    if set(tables) != set(self.attributes):
      raise ValueError(f"HistoryMatches.set_tables: expected the attributes "
                       f"{sorted(self.attributes)}, got {sorted(tables)}.")
    for name, (width, size) in self.attributes.items():
      values = np.asarray(tables[name], np.int64)
      if values.shape != (len(self.vocabulary), width):
        raise ValueError(f"HistoryMatches.set_tables: '{name}' must be "
                         f"{(len(self.vocabulary), width)}, got "
                         f"{values.shape}.")
      if values.min() < -1 or values.max() >= size:
        raise ValueError(f"HistoryMatches.set_tables: '{name}' values must "
                         f"be in [0, {size}) or -1.")
      self.tables[name].assign(values)

  def call(self, history_ids: tf.Tensor, candidate_ids: tf.Tensor
           ) -> tf.Tensor:
    history = rows_of(self._row_of, history_ids, "HistoryMatches")
    candidates = rows_of(self._row_of, candidate_ids, "HistoryMatches")
    real = tf.cast(history >= 0, tf.float32)  # [B, H]
    count = tf.maximum(tf.reduce_sum(real, axis=1, keepdims=True), 1.0)
    batch = tf.shape(history, out_type=tf.int64)[0]
    query = tf.range(batch)[:, None, None]
    features = []
    for name, (_, size) in self.attributes.items():
      table = self.tables[name]
      held = tf.gather(table, tf.maximum(history, 0))  # [B, H, M]
      held = tf.where((held >= 0) & (history >= 0)[..., None], held, -1)
      values = tf.gather(table, tf.maximum(candidates, 0))  # [B, L, M]
      values = tf.where((values >= 0) & (candidates >= 0)[..., None],
                        values, -1)
      has = tf.cast(values >= 0, tf.float32)
      # How many history items hold each candidate value: the (query,
      # value) keys of the history sorted once, each candidate's found by
      # binary search, so memory grows with H and L, not with the number
      # of values an attribute has.
      keys = tf.sort(tf.reshape(tf.where(
          held >= 0, query * size + held, -1), [1, -1]))
      wanted = tf.reshape(query * size + tf.maximum(values, 0), [1, -1])
      found = tf.reshape(
          tf.searchsorted(keys, wanted, side="right")
          - tf.searchsorted(keys, wanted, side="left"), tf.shape(values))
      per_value = tf.cast(found, tf.float32) / count[..., None] * has
      features.append(tf.math.divide_no_nan(
          tf.reduce_sum(per_value, axis=-1), tf.reduce_sum(has, axis=-1)))
      # The latest item (slot 0) holds one of the candidate's values.
      latest = tf.reduce_any(
          (values[:, :, :, None] == held[:, None, :1, :])
          & (values >= 0)[..., None], axis=[2, 3])
      features.append(tf.cast(latest, tf.float32))
    return tf.stack(features, axis=-1)

  def get_config(self) -> Dict[str, Any]:
    config = super().get_config()
    config.update({"vocabulary": self.vocabulary.tolist(),
                   "attributes": {n: list(a)
                                  for n, a in self.attributes.items()}})
    return config
