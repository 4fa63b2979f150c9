"""HistoryEncoder: a user's last H interactions as tokens, attention-pooled."""

from __future__ import annotations

from typing import Any, Dict

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class HistoryEncoder(tf.keras.layers.Layer):
  """Turns a padded history into tokens and pools them by attention.

  Token j of a history is `h_j = v_j + l(y_j) + p(j)`: the item's embedding
  `v_j` (the caller looks it up, in LT-TTD from the item tower's own id
  table), an embedding of its graded label `y_j` (rounded and clipped to
  `[0, num_labels)`), and an embedding of its recency `j` (0 = the most
  recent). The pooled vector is the attention pooling of the paper's towers,
  `sum_j a_j h_j` with `a = softmax_j(w^T tanh(W h_j))` over the real
  tokens, one such pooling per head, concatenated. An empty history pools to
  zeros. Histories longer than `max_length` keep their `max_length` most
  recent tokens.

  Args:
    max_length: H, the longest history read.
    dim: the width of the item embeddings, and of the tokens.
    num_labels: label buckets (labels are clipped to `num_labels - 1`).
    num_heads: attention-pooling heads; the pooled width is
      `num_heads * dim`.
    **kwargs: passed to `tf.keras.layers.Layer`.

  Call args:
    item_embeddings: `[B, H, dim]`.
    labels: `[B, H]` graded labels.
    mask: `[B, H]` bool, True for real interactions.

  Returns:
    `{"tokens": [B, H', dim], "mask": [B, H'], "pooled": [B, heads * dim]}`
    with `H' = min(H, max_length)`.

  Example:

  >>> encoder = HistoryEncoder(max_length=4, dim=8)
  >>> out = encoder(tf.ones([2, 3, 8]), tf.ones([2, 3]),
  ...               tf.constant([[True, True, False], [False] * 3]))
  >>> out["pooled"].shape, float(tf.reduce_sum(tf.abs(out["pooled"][1])))
  (TensorShape([2, 8]), 0.0)
  """

  def __init__(self, max_length: int, dim: int, num_labels: int = 3,
               num_heads: int = 1, **kwargs):
    super().__init__(**kwargs)
    for name, value in [("max_length", max_length), ("dim", dim),
                        ("num_labels", num_labels), ("num_heads", num_heads)]:
      if value < 1:
        raise ValueError(f"HistoryEncoder: {name} must be >= 1, got {value}.")
    self.max_length = max_length
    self.dim = dim
    self.num_labels = num_labels
    self.num_heads = num_heads
    self._labels = tf.keras.layers.Embedding(num_labels, dim,
                                             name="label_embedding")
    self._positions = tf.keras.layers.Embedding(max_length, dim,
                                                name="recency_embedding")
    self._attention_hidden = tf.keras.layers.Dense(dim, activation="tanh",
                                                   name="pool_hidden")
    self._attention_logits = tf.keras.layers.Dense(num_heads,
                                                   name="pool_logits")

  @property
  def pooled_dim(self) -> int:
    return self.num_heads * self.dim

  def call(self, item_embeddings: tf.Tensor, labels: tf.Tensor,
           mask: tf.Tensor) -> Dict[str, tf.Tensor]:
    item_embeddings = item_embeddings[:, :self.max_length]
    labels = tf.cast(labels[:, :self.max_length], tf.float32)
    mask = tf.cast(mask[:, :self.max_length], tf.bool)
    length = tf.shape(item_embeddings)[1]
    buckets = tf.cast(tf.clip_by_value(tf.round(labels), 0.0,
                                       self.num_labels - 1), tf.int32)
    tokens = (item_embeddings + self._labels(buckets)
              + self._positions(tf.range(length))[None])
    tokens *= tf.cast(mask, tokens.dtype)[..., None]
    logits = self._attention_logits(self._attention_hidden(tokens))
    logits = tf.where(mask[..., None], logits, -1e9)
    weights = tf.nn.softmax(logits, axis=1) * tf.cast(mask, tf.float32)[
        ..., None]  # an all-padding history gets zero weights
    pooled = tf.einsum("bhk,bhd->bkd", weights, tokens)
    pooled = tf.reshape(pooled, [-1, self.pooled_dim])
    return {"tokens": tokens, "mask": mask, "pooled": pooled}

  def get_config(self) -> Dict[str, Any]:
    config = super().get_config()
    config.update({"max_length": self.max_length, "dim": self.dim,
                   "num_labels": self.num_labels,
                   "num_heads": self.num_heads})
    return config
