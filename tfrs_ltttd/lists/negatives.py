"""Catalogue-wide sampled negatives for the retrieval softmax.

The in-batch softmax treats the other positives of a batch as negatives;
how many it sees depends on the batch, and under `ParameterServerStrategy`
(asynchronous workers, no collectives) a worker sees only its own batch.
`NegativeSampler` adds `num` items drawn from the whole catalogue to every
batch of retrieval pairs (after the mixed negative sampling of
Yang et al., "Mixed Negative Sampling for Learning Two-tower Neural Networks
in Recommendations", WWW 2020), so that the negatives do not depend on the
global batch, on any strategy.

The sampling law is `"frequency"` (an item's share of the train
interactions, the law the in-batch negatives follow) or `"uniform"`. The
retrieval task corrects every candidate's logit by the log of its expected
count among the step's candidates, `B * p_j + S * q_j` (p: the in-batch law,
q: the sampler's, B positives, S sampled items), the log-Q correction of the
mixture.

Each batch gains `"sampled"` (item features `[S]`), `"sampled_probability"`
(q of each sampled item), `"sampled_batch_probability"` (its p) and
`"item_sampled_probability"` (q of each positive).
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import tensorflow as tf

from tfrs_ltttd.data.interactions import Interactions

SAMPLING_LAWS = ("frequency", "uniform")


class NegativeSampler:
  """Adds catalogue-wide negatives to batches of retrieval pairs.

  Args:
    data: the interactions (the catalogue and the in-batch law).
    num: items sampled per batch (with replacement).
    law: `"frequency"` or `"uniform"`.
    seed: the seed; batch i of a dataset draws from the stateless seed
      `(seed, i)`.

  Raises:
    ValueError: for a bad number or law.

  Example:

  >>> from tfrs_ltttd.data import synthetic
  >>> data = synthetic.generate(synthetic.SyntheticConfig(
  ...     num_users=20, num_items=30, interactions_per_user=6))
  >>> sampler = NegativeSampler(data, num=5)
  >>> batch = {"item_probability": tf.fill([8], 0.1)}
  >>> sampler(tf.constant(0, tf.int64), batch)["sampled"]["item_id"].shape
  TensorShape([5])
  """

  def __init__(self, data: Interactions, num: int, law: str = "frequency",
               seed: int = 0) -> None:
    if num < 1:
      raise ValueError(f"num_sampled_negatives must be >= 1, got {num}.")
    if law not in SAMPLING_LAWS:
      raise ValueError(f"negative_sampling must be one of {SAMPLING_LAWS}, "
                       f"got '{law}'.")
    self.num, self.law, self.seed = num, law, seed
    batch_law = data.item_probabilities()
    self._batch_law = tf.constant(batch_law)
    if law == "frequency":
      law_values = batch_law
    else:
      law_values = np.full(data.num_items, 1.0 / data.num_items, np.float32)
    self._law = tf.constant(law_values)
    with np.errstate(divide="ignore"):
      self._logits = tf.constant(np.log(law_values)[None, :])
    self._items = {k: tf.constant(v) for k, v in data.items.items()}

  def __call__(self, index: tf.Tensor, batch: Dict) -> Dict:
    """Returns `batch` (pairs) with the sampled negatives of batch `index`."""
    seed = tf.stack([tf.constant(self.seed, tf.int64),
                     tf.cast(index, tf.int64)])
    rows = tf.random.stateless_categorical(self._logits, self.num, seed,
                                           dtype=tf.int32)[0]
    out = dict(batch)
    out["sampled"] = {k: tf.gather(v, rows) for k, v in self._items.items()}
    out["sampled_probability"] = tf.gather(self._law, rows)
    out["sampled_batch_probability"] = tf.gather(self._batch_law, rows)
    positives = batch["item_probability"]
    out["item_sampled_probability"] = (
        positives if self.law == "frequency"
        else tf.fill(tf.shape(positives), self._law[0]))
    return out

  def apply(self, ds: tf.data.Dataset, stream: int = 0) -> tf.data.Dataset:
    """Adds the negatives to every batch of `ds` (pairs, batched); distinct
    `stream`s (parameter-server workers) draw distinct negatives."""
    return ds.enumerate(start=stream << 40).map(
        self, num_parallel_calls=tf.data.AUTOTUNE)
