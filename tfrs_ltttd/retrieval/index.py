"""Retrieval indexes over the whole catalogue, built from the item tower."""

from __future__ import annotations

from typing import Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrs_ltttd._memo import traced
from tfrs_ltttd.retrieval.exact import ExactTopK
from tfrs_ltttd.retrieval.scann import ScaNN, ScaNNConfig

INDEX_KINDS = ("bruteforce", "scann")


def _embed_items(tower, items):
  return tower.embed_with_residual(items, training=False)


def encode_catalogue(
    item_tower,
    items: Mapping[str, np.ndarray],
    batch_size: int = 4096,
) -> Tuple[np.ndarray, np.ndarray]:
  """Runs the item tower over the catalogue in batches.

  Args:
    item_tower: an `ItemTower`.
    items: item features, one value per catalogue row.
    batch_size: rows per batch.

  Returns:
    `(embeddings [N, d], residuals [N, r])` in row order.
  """
  ds = tf.data.Dataset.from_tensor_slices(dict(items)).batch(batch_size)
  encode = traced(item_tower, _embed_items)
  parts = [tuple(t.numpy() for t in encode(batch)) for batch in ds]
  return (np.concatenate([p[0] for p in parts]),
          np.concatenate([p[1] for p in parts]))


def build_index(
    embeddings: np.ndarray,
    identifiers: Optional[np.ndarray] = None,
    kind: str = "bruteforce",
    k: int = 200,
    scann: ScaNNConfig = ScaNNConfig(),
    batch_size: int = 1,
) -> tfrs.layers.factorized_top_k.TopK:
  """A `tfrs.layers.factorized_top_k` index over catalogue embeddings.

  Args:
    embeddings: `[N, d]` item embeddings (from `encode_catalogue`).
    identifiers: `[N]` ids returned for each row; row numbers if None.
    kind: `"bruteforce"` (exact; stock TF ops; an `ExactTopK`, the reference)
      or `"scann"` (approximate, sub-linear, CPU; needs ScaNN's custom ops to
      serve).
    k: the default number of results.
    scann: ScaNN settings, resolved against the catalogue size.
    batch_size: queries per call the index will mostly see (tunes the exact
      index's chunks).

  Returns:
    The indexed `TopK` layer; `index(queries [B, d], k)` returns
    `(scores [B, k], identifiers [B, k])`, scores being dot products.

  Raises:
    ValueError: for an unknown kind, a bad shape or k out of range.

  Example:

  >>> index = build_index(np.eye(3, dtype=np.float32), k=2)
  >>> index(tf.constant([[0., 1., 0.]]))[1].numpy()
  array([[1, 0]])
  """
  if kind not in INDEX_KINDS:
    raise ValueError(f"index kind must be one of {INDEX_KINDS}, got '{kind}'.")
  embeddings = np.asarray(embeddings, np.float32)
  if embeddings.ndim != 2:
    raise ValueError(f"embeddings must be [num_items, dim], got shape "
                     f"{embeddings.shape}.")
  num_items = len(embeddings)
  if not 1 <= k <= num_items:
    raise ValueError(f"k must be in [1, {num_items}] (the catalogue size), "
                     f"got {k}.")
  if identifiers is None:
    identifiers = np.arange(num_items, dtype=np.int64)
  if len(identifiers) != num_items:
    raise ValueError(f"identifiers has {len(identifiers)} rows, embeddings "
                     f"{num_items}; they must match.")
  if kind == "bruteforce":
    index = ExactTopK(k=k, batch_size=batch_size)
  else:
    index = ScaNN(scann.resolve(num_items, k), k=k)
  return index.index(tf.constant(embeddings), tf.constant(identifiers))
