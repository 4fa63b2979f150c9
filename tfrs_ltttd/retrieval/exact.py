"""Exact top-k over a whole catalogue near the machine's matmul rate.

`tfrs.layers.factorized_top_k.BruteForce` scores every item (`[B, N]`) and
runs `tf.math.top_k` over a million columns; on CPU the top-k, not the
matmul, takes most of the time (about a third of the sgemm rate at N = 10^6,
`benchmarks/retrieval.py`). `ExactTopK` returns the same items with the same
stock TF ops, in two stages:

1. the catalogue is cut into chunks of `chunk_size` items stored transposed
   (`[d, chunk]`, a plain matmul per chunk), and each chunk into groups of
   `group_size` items; per chunk only the group maxima (`[B, chunk / g]`)
   are kept, so the `[B, N]` score matrix never exists at once;
2. `top_k` picks the k groups with the highest maxima, their `k * g` items are
   scored again and `top_k` picks the k best.

It is exact: an item in the true top k has a score >= the k-th best, so its
group's maximum does too, and at most k groups can have such a maximum (each
holds a distinct item scoring >= the k-th best); the k best groups therefore
hold every top-k item. Among items with exactly equal scores the order may
differ from a stable sort's.

No control flow: the chunk loop is unrolled when the graph is traced, so the
layer exports with stock ops only and runs the same on GPU.

Memory: the catalogue is held twice (the transposed chunks for scoring and a
group-major copy for the second stage, which `embeddings(rows)` also reads,
so that a caller needs no third copy), and a batch of B queries needs
`B * k * group_size * d * 4` bytes for the second stage on top of
`B * chunk_size * 4` per chunk in flight.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs


class ExactTopK(tfrs.layers.factorized_top_k.TopK):
  """Exact dot-product top-k by chunked group maxima, then re-scoring.

  A drop-in for `tfrs.layers.factorized_top_k.BruteForce` (same `index` /
  `call` contract; `is_exact()` is True).

  Args:
    k: the default number of results.
    chunk_size: items scored per matmul (rounded to a multiple of
      `group_size`, capped at the padded catalogue size); None derives it
      from `batch_size`: about 1.6 M scores per chunk (a power of 2 in
      [4096, 16384]; measured in `benchmarks/retrieval.py`, smaller chunks
      keep large batches' scores in cache, larger ones save per-op overhead).
    group_size: items per group of the first stage.
    batch_size: the number of queries per call the index will mostly see.
    name: the layer name.

  Example:

  >>> index = ExactTopK(k=2, chunk_size=4, group_size=2)
  >>> index = index.index(tf.eye(5, 3), tf.constant([10, 11, 12, 13, 14]))
  >>> int(index(tf.constant([[0., 1., 0.]]))[1][0, 0])
  11
  """

  def __init__(self, k: int = 10, chunk_size: Optional[int] = None,
               group_size: int = 32, batch_size: int = 1,
               name: Optional[str] = None) -> None:
    super().__init__(k=k, name=name)
    if chunk_size is None:
      chunk_size = 2 ** round(math.log2(1.6e6 / max(batch_size, 1)))
      chunk_size = min(16384, max(4096, chunk_size))
    if chunk_size < 1 or group_size < 1:
      raise ValueError(f"chunk_size and group_size must be >= 1, got "
                       f"{chunk_size} and {group_size}.")
    self._chunk_size, self._group_size = chunk_size, group_size
    self._chunks = None

  def index(self, candidates: tf.Tensor,
            identifiers: Optional[tf.Tensor] = None) -> "ExactTopK":
    """Indexes `candidates` `[N, d]`, returned as `identifiers` `[N]`."""
    candidates = np.asarray(candidates, np.float32)
    if candidates.ndim != 2:
      raise ValueError(f"The candidates tensor must be 2D (got "
                       f"{candidates.shape}).")
    num, dim = candidates.shape
    identifiers = (np.arange(num, dtype=np.int32) if identifiers is None
                   else np.asarray(identifiers))
    if identifiers.shape != (num,):
      raise ValueError(f"identifiers must have one entry per candidate row "
                       f"({num}), got shape {identifiers.shape}.")
    g = self._group_size
    chunk = min(max(g, self._chunk_size // g * g), math.ceil(num / g) * g)
    num_chunks = math.ceil(num / chunk)
    padded = num_chunks * chunk
    per_chunk = chunk // g
    x = np.zeros((padded, dim), np.float32)
    x[:num] = candidates
    ids = np.zeros(padded, identifiers.dtype)
    ids[:num] = identifiers
    bias = np.zeros(padded, np.float32)
    bias[num:] = -np.inf  # padding never wins

    # Position p = c * chunk + m * per_chunk + j is member m of group
    # c * per_chunk + j: a group is strided over its chunk, so the first
    # stage reduces over a middle axis (vectorised along the groups).
    def group_major(a):
      a = a.reshape((num_chunks, g, per_chunk) + a.shape[1:])
      return np.swapaxes(a, 1, 2).reshape((num_chunks * per_chunk, g)
                                          + a.shape[3:])

    def weight(name, value):
      w = self.add_weight(name=name, shape=value.shape,
                          dtype=tf.as_dtype(value.dtype), trainable=False,
                          initializer="zeros")
      w.assign(value)
      return w

    self._chunks = weight("chunks", np.ascontiguousarray(np.transpose(
        x.reshape(num_chunks, chunk, dim), (0, 2, 1))))
    self._last_bias = weight("last_chunk_bias", bias[-chunk:])
    self._groups = weight("groups", group_major(x))
    self._group_bias = weight("group_bias", group_major(bias))
    self._identifiers = weight("identifiers", group_major(ids))
    self._num_chunks, self._chunk, self._per_chunk = (num_chunks, chunk,
                                                      per_chunk)
    self._num_items = num
    self._reset_tf_function_cache()
    return self

  def call(self, queries: tf.Tensor,
           k: Optional[int] = None) -> Tuple[tf.Tensor, tf.Tensor]:
    """Returns `(scores [B, k], identifiers [B, k])`, best first."""
    k = self._k if k is None else k
    self._check_indexed()
    if not 1 <= k <= self._num_items:
      raise ValueError(f"k must be in [1, {self._num_items}] (the catalogue "
                       f"size), got {k}.")
    g, per_chunk = self._group_size, self._per_chunk
    num_groups = self._num_chunks * per_chunk
    chunks = tf.convert_to_tensor(self._chunks)
    scores = []
    for c in range(self._num_chunks):
      s = tf.matmul(queries, chunks[c])  # [B, chunk]
      if c == self._num_chunks - 1:
        s += self._last_bias
      if k > num_groups:  # too few groups: keep every score
        scores.append(s)
      else:
        scores.append(tf.reduce_max(tf.reshape(s, [-1, g, per_chunk]), 1))
    if k > num_groups:
      # Columns in position order; map them to group-major (row, member).
      s = tf.reshape(tf.transpose(tf.reshape(tf.concat(scores, 1), [
          -1, self._num_chunks, g, per_chunk]), [0, 1, 3, 2]), [-1, num_groups
                                                                * g])
      top, where = tf.math.top_k(s, k)
      ids = tf.gather(tf.reshape(self._identifiers, [-1]), where)
      return top, ids
    _, best_groups = tf.math.top_k(tf.concat(scores, 1), k)  # [B, k]
    members = tf.gather(self._groups, best_groups)  # [B, k, g, d]
    s = tf.einsum("bd,bkgd->bkg", queries, members)
    s = tf.reshape(s + tf.gather(self._group_bias, best_groups), [-1, k * g])
    top, where = tf.math.top_k(s, k)
    ids = tf.reshape(tf.gather(self._identifiers, best_groups), [-1, k * g])
    return top, tf.gather(ids, where, batch_dims=1)

  def _check_indexed(self) -> None:
    if self._chunks is None:
      raise ValueError("The `index` method must be called first to create "
                       "the retrieval index.")

  def embeddings(self, rows: tf.Tensor) -> tf.Tensor:
    """The indexed vectors of catalogue rows, read from the index's copy.

    Args:
      rows: int row numbers (any shape) of the `candidates` given to
        `index`, in `[0, N)`.

    Returns:
      `rows.shape + [d]` float32, `candidates[rows]`; a caller that needs
      the catalogue's vectors beside the index need not hold a copy.
    """
    self._check_indexed()
    rows = tf.cast(rows, tf.int64)
    chunk, per_chunk = self._chunk, self._per_chunk
    within = rows % chunk  # = member * per_chunk + group within the chunk
    group = rows // chunk * per_chunk + within % per_chunk
    return tf.gather_nd(self._groups,
                        tf.stack([group, within // per_chunk], axis=-1))

  def is_exact(self) -> bool:
    return True
