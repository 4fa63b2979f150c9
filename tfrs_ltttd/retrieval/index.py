"""Retrieval indexes over the whole catalogue, built from the item tower."""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

INDEX_KINDS = ("bruteforce", "scann")


@dataclasses.dataclass(frozen=True)
class ScaNNConfig:
  """Settings of a ScaNN index; None means "derive from the catalogue size".

  The derived defaults (our choice, measured in `benchmarks/retrieval.py`):
  `sqrt(N)` leaves (at most 2000); exact re-scoring of max(k, 1000)
  candidates; enough leaves searched to hold max(10 k, re-scored) candidates
  and at least 5 % of the leaves. At N = 1,000,000 and k = 100 that is 1000
  leaves, 50 searched, 1000 re-scored; small catalogues degrade toward an
  exhaustive, exact search.

  Attributes:
    num_leaves: partitions of the catalogue.
    num_leaves_to_search: partitions scanned per query.
    num_reordering_candidates: candidates re-scored exactly.
    dimensions_per_block: asymmetric-hashing block size (smaller is more
      accurate and a little slower).
    training_iterations: k-means iterations of the partitioner.
  """

  num_leaves: Optional[int] = None
  num_leaves_to_search: Optional[int] = None
  num_reordering_candidates: Optional[int] = None
  dimensions_per_block: int = 1
  training_iterations: int = 12

  def resolve(self, num_items: int, k: int) -> "ScaNNConfig":
    """Fills the None fields for a catalogue of `num_items` and depth `k`."""
    leaves = self.num_leaves or int(min(2000, max(1, round(math.sqrt(
        num_items)))))
    leaves = min(leaves, num_items)
    per_leaf = num_items / leaves
    reorder = self.num_reordering_candidates or min(num_items, max(k, 1000))
    search = self.num_leaves_to_search or min(leaves, max(
        math.ceil(0.05 * leaves), math.ceil(max(10 * k, reorder) / per_leaf),
        1))
    for name, value in [("num_leaves", leaves), ("num_leaves_to_search",
                                                 search),
                        ("num_reordering_candidates", reorder)]:
      if value < 1:
        raise ValueError(f"ScaNNConfig.{name} must be >= 1, got {value}.")
    if search > leaves:
      raise ValueError(f"ScaNNConfig.num_leaves_to_search ({search}) must be "
                       f"<= num_leaves ({leaves}).")
    return dataclasses.replace(self, num_leaves=leaves,
                               num_leaves_to_search=search,
                               num_reordering_candidates=reorder)


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
  encode = tf.function(
      lambda x: item_tower.embed_with_residual(x, training=False),
      reduce_retracing=True)
  parts = [tuple(t.numpy() for t in encode(batch)) for batch in ds]
  return (np.concatenate([p[0] for p in parts]),
          np.concatenate([p[1] for p in parts]))


def build_index(
    embeddings: np.ndarray,
    identifiers: Optional[np.ndarray] = None,
    kind: str = "bruteforce",
    k: int = 200,
    scann: ScaNNConfig = ScaNNConfig(),
) -> tfrs.layers.factorized_top_k.TopK:
  """A `tfrs.layers.factorized_top_k` index over catalogue embeddings.

  Args:
    embeddings: `[N, d]` item embeddings (from `encode_catalogue`).
    identifiers: `[N]` ids returned for each row; row numbers if None.
    kind: `"bruteforce"` (exact; stock TF ops; the reference) or `"scann"`
      (approximate, sub-linear, CPU; needs ScaNN's custom ops to serve).
    k: the default number of results.
    scann: ScaNN settings, resolved against the catalogue size.

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
    index = tfrs.layers.factorized_top_k.BruteForce(k=k)
  else:
    s = scann.resolve(num_items, k)
    index = tfrs.layers.factorized_top_k.ScaNN(
        k=k, num_leaves=s.num_leaves,
        num_leaves_to_search=s.num_leaves_to_search,
        num_reordering_candidates=s.num_reordering_candidates,
        dimensions_per_block=s.dimensions_per_block,
        training_iterations=s.training_iterations)
  return index.index(tf.constant(embeddings), tf.constant(identifiers))
