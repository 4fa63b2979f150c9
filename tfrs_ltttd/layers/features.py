"""The features the layers read: their names and their description."""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

import numpy as np
import tensorflow as tf

#: Query features holding the user's last H item ids `[batch, H]` (padded with
#: -1, or "" for string ids) and their labels `[batch, H]`.
HISTORY_IDS = "history_item_ids"
HISTORY_LABELS = "history_labels"
#: The integer item id that pads `HISTORY_IDS` (string ids pad with ""); no
#: item may have it.
PAD_ID = -1


def describe_features(
    table: Mapping[str, np.ndarray],
) -> Tuple[Dict[str, list], Dict[str, Tuple[float, float]]]:
  """Derives tower feature specs from a feature table.

  Integer and string columns become categorical features with their sorted
  distinct values as vocabulary; float columns become numeric features with
  their mean and variance, except 0/1 flags (one per genre or category of a
  multi-valued column), which are read as they are (mean 0, variance 1):
  standardised, the 1 of a flag that one item in a thousand carries would
  be 32.

  Args:
    table: feature name -> values (one per row).

  Returns:
    `(vocabularies, numeric)`, the `Tower` constructor arguments.

  Example:

  >>> describe_features({"id": np.array([3, 1, 3]), "x": np.array([1., 3.])})
  ({'id': [1, 3]}, {'x': (2.0, 1.0)})
  >>> describe_features({"genre_noir": np.array([0., 0., 0., 1.])})
  ({}, {'genre_noir': (0.0, 1.0)})
  """
  vocabularies, numeric = {}, {}
  for name, values in table.items():
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.floating):
      if np.isin(values, (0.0, 1.0)).all():
        numeric[name] = (0.0, 1.0)
      else:
        numeric[name] = (float(values.mean()),
                         float(max(values.var(), 1e-12)))
    elif np.issubdtype(values.dtype, np.integer):
      vocabularies[name] = [int(v) for v in np.unique(values)]
    else:
      vocabularies[name] = [str(v) for v in np.unique(values.astype(str))]
  return vocabularies, numeric


def row_table(vocabulary: np.ndarray) -> tf.lookup.StaticHashTable:
  """A table from each id of `vocabulary` to its row (-1 for any other id)."""
  vocabulary = np.asarray(vocabulary)
  keys = (vocabulary.astype(str) if vocabulary.dtype.kind in "US"
          else vocabulary.astype(np.int64))
  return tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(keys), tf.range(len(vocabulary), dtype=tf.int64)),
      default_value=-1)


def rows_of(table: tf.lookup.StaticHashTable, ids: tf.Tensor,
            owner: str) -> tf.Tensor:
  """The rows of `ids` in `table` (`row_table`), -1 for unknown ids and
  padding; integer ids of any width are read as int64.

  Raises:
    ValueError: when string ids meet integer ones; `owner` names the caller.
  """
  if ids.dtype != table.key_dtype:
    if ids.dtype == tf.string or table.key_dtype == tf.string:
      raise ValueError(f"{owner}: ids are {ids.dtype.name}, the "
                       f"vocabulary {table.key_dtype.name}.")
    ids = tf.cast(ids, table.key_dtype)
  return table.lookup(ids)
