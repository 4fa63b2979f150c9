"""Listwise ranking losses.

The four listwise ranking losses are written here in plain TensorFlow, with
the definitions and conventions of TF-Ranking's `tfr.keras.losses` (labels
< 0 mark padding; the same reductions), so that the package runs on stacks
where TF-Ranking cannot be imported (it needs TF < 2.16). On the pinned
stack the tests check values and gradients against `tfr.keras.losses`.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

_NEG = -1e9


def _masked(labels: tf.Tensor, logits: tf.Tensor):
  """Casts, and returns (labels with padding at 0, logits, real-slot mask)."""
  labels = tf.cast(labels, tf.float32)
  logits = tf.cast(logits, tf.float32)
  mask = labels >= 0.0
  return tf.where(mask, labels, 0.0), logits, mask


class _ListLoss(tf.keras.losses.Loss):
  """What the four losses share: scores divided by a temperature T."""

  default_name = "list_loss"
  default_temperature = 1.0

  def __init__(self, temperature: Optional[float] = None,
               reduction: str = tf.keras.losses.Reduction.AUTO,
               name: Optional[str] = None):
    super().__init__(reduction=reduction, name=name or self.default_name)
    self.temperature = (self.default_temperature if temperature is None
                        else temperature)

  def get_config(self):
    return {**super().get_config(), "temperature": self.temperature}


class SoftmaxLoss(_ListLoss):
  """Listwise softmax cross-entropy (TF-Ranking's `SoftmaxLoss`).

  For list i with label sum `y_i = sum_j y_ij`:
  `loss_i = -y_i * sum_j (y_ij / y_i) * log softmax(s_i / T)_j` over the real
  slots; a list whose labels sum to 0 gives 0.

  Args:
    temperature: T, dividing the scores.
    reduction: a `tf.keras.losses.Reduction`.
    name: the loss name.

  Example:

  >>> loss = SoftmaxLoss()
  >>> round(float(loss([[1., 0., -1.]], [[0., 0., 9.]])), 4)  # log(2)
  0.6931
  """

  default_name = "softmax_loss"

  def call(self, y_true, y_pred):
    labels, logits, mask = _masked(y_true, y_pred)
    logits = tf.where(mask, logits / self.temperature, _NEG)
    label_sum = tf.reduce_sum(labels, axis=1)
    log_p = tf.nn.log_softmax(logits, axis=1)
    per_list = -tf.reduce_sum(tf.where(mask, labels * log_p, 0.0), axis=1)
    return tf.where(label_sum > 0, per_list, 0.0)


class ListMLELoss(_ListLoss):
  """ListMLE (Xia et al., 2008; TF-Ranking's `ListMLELoss`).

  The negative Plackett-Luce log-likelihood of the order of the labels:
  with the real slots sorted by label (ties in a random order, as in
  TF-Ranking), `loss = sum_r log(sum_{k >= r} exp(s_k)) - s_r`.

  Padding takes no part. TF-Ranking instead gives padded slots the score
  log(1e-10) and keeps them in the sums, which adds the constant
  `log(n_pad!)` to a list with `n_pad` padded slots; the gradients agree.

  Args:
    temperature: T, dividing the scores.
    seed: op-level seed of the tie-breaking shuffle.
    reduction: a `tf.keras.losses.Reduction`.
    name: the loss name.

  Example:

  >>> loss = ListMLELoss()
  >>> round(float(loss([[1., 0.]], [[0., 0.]])), 4)  # log(2) + log(1)
  0.6931
  """

  default_name = "list_mle_loss"

  def __init__(self, temperature: Optional[float] = None,
               seed: Optional[int] = None,
               reduction: str = tf.keras.losses.Reduction.AUTO,
               name: Optional[str] = None):
    super().__init__(temperature, reduction, name)
    self.seed = seed

  def call(self, y_true, y_pred):
    labels, logits, mask = _masked(y_true, y_pred)
    logits = logits / self.temperature
    # Sort by label, padding last, ties in a random order: shuffle, then a
    # stable descending sort (`top_k` keeps the first of equal values).
    keys = tf.where(mask, labels, _NEG)
    shuffle = tf.argsort(tf.random.uniform(tf.shape(keys), seed=self.seed),
                         stable=True)
    keys = tf.gather(keys, shuffle, batch_dims=1)
    _, order = tf.math.top_k(keys, k=tf.shape(keys)[1], sorted=True)
    order = tf.gather(shuffle, order, batch_dims=1)
    s = tf.gather(logits, order, batch_dims=1)
    real = tf.gather(mask, order, batch_dims=1)
    s = s - tf.reduce_max(tf.where(real, s, _NEG), axis=1, keepdims=True)
    tail = tf.cumsum(tf.where(real, tf.exp(s), 0.0), axis=1, reverse=True)
    terms = tf.math.log(tf.where(real, tail, 1.0)) - s
    return tf.reduce_sum(tf.where(real, terms, 0.0), axis=1)

  def get_config(self):
    return {**super().get_config(), "seed": self.seed}


class ApproxNDCGLoss(_ListLoss):
  """ApproxNDCG (Qin et al., 2010; TF-Ranking's `ApproxNDCGLoss`).

  `-NDCG` with each slot's rank replaced by the smooth
  `0.5 + sum_k sigmoid((s_k - s_j) / T)` (the sum includes k = j) and the
  gains `2^(y - max y) - 2^(-max y)` (TF-Ranking's overflow-safe form); lists
  whose labels sum to 0 give 0.

  Args:
    temperature: T of the sigmoid (default TF-Ranking's, 0.1).
    reduction: a `tf.keras.losses.Reduction`.
    name: the loss name.

  Example:

  >>> loss = ApproxNDCGLoss()
  >>> round(float(loss([[1., 0.]], [[5., -5.]])), 4)  # perfect order
  -1.0
  """

  default_name = "approx_ndcg_loss"
  default_temperature = 0.1

  def call(self, y_true, y_pred):
    labels, logits, mask = _masked(y_true, y_pred)
    logits = logits / self.temperature
    pair = tf.logical_and(mask[:, :, None], mask[:, None, :])
    beats = tf.sigmoid(logits[:, None, :] - logits[:, :, None])
    ranks = 0.5 + tf.reduce_sum(tf.where(pair, beats, 0.0), axis=2)
    top = tf.reduce_max(labels, axis=1, keepdims=True)
    gains = tf.where(mask, tf.pow(2.0, labels - top) - tf.pow(2.0, -top), 0.0)
    dcg = tf.reduce_sum(gains / tf.math.log1p(ranks), axis=1)
    ideal = tf.sort(gains, axis=1, direction="DESCENDING")
    positions = tf.cast(tf.range(1, tf.shape(ideal)[1] + 1), tf.float32)
    ideal_dcg = tf.reduce_sum(ideal / tf.math.log1p(positions), axis=1)
    has_positive = tf.reduce_sum(labels, axis=1) > 0
    return tf.where(has_positive,
                    -tf.math.divide_no_nan(dcg, ideal_dcg), 0.0)


class PairwiseLogisticLoss(_ListLoss):
  """Pairwise logistic loss (RankNet; TF-Ranking's `PairwiseLogisticLoss`).

  For every pair of real slots with `y_i > y_j`: `log(1 + exp(-(s_i - s_j)))`.
  As in TF-Ranking, `call` returns `[batch, list_size]` (each slot's sum over
  the slots it should beat), so the Keras reduction averages over
  batch x list_size, and `NONE` gives one value per slot.

  Args:
    temperature: T, dividing the scores.
    reduction: a `tf.keras.losses.Reduction`.
    name: the loss name.

  Example:

  >>> loss = PairwiseLogisticLoss(reduction="sum")
  >>> round(float(loss([[1., 0.]], [[0., 0.]])), 4)  # log(2)
  0.6931
  """

  default_name = "pairwise_logistic_loss"

  def call(self, y_true, y_pred):
    labels, logits, mask = _masked(y_true, y_pred)
    logits = logits / self.temperature
    pair = tf.logical_and(mask[:, :, None], mask[:, None, :])
    pair = tf.logical_and(pair, labels[:, :, None] > labels[:, None, :])
    diff = logits[:, :, None] - logits[:, None, :]
    per_pair = tf.nn.relu(-diff) + tf.math.log1p(tf.exp(-tf.abs(diff)))
    return tf.reduce_sum(tf.where(pair, per_pair, 0.0), axis=2)


RANKING_LOSSES = {
    "softmax": SoftmaxLoss,
    "listmle": ListMLELoss,
    "approx_ndcg": ApproxNDCGLoss,
    "pairwise_logistic": PairwiseLogisticLoss,
}


def ranking_loss(
    name: str = "softmax",
    reduction: str = tf.keras.losses.Reduction.SUM_OVER_BATCH_SIZE,
) -> tf.keras.losses.Loss:
  """Returns one of the package's listwise losses by short name.

  By default the loss averages over lists (`SUM_OVER_BATCH_SIZE`), like the
  retrieval and distillation terms, so that the weights alpha, beta and
  gamma do not depend on the batch size; `LTTTDTask` asks for `NONE` and
  averages itself, which `tf.distribute` requires. Slots with a label < 0
  are padding and ignored (the TF-Ranking convention).

  Args:
    name: one of `"softmax"` (default; `SoftmaxLoss`), `"listmle"`,
      `"approx_ndcg"`, `"pairwise_logistic"`.
    reduction: a `tf.keras.losses.Reduction`.

  Returns:
    A `tf.keras.losses.Loss`.

  Raises:
    ValueError: for an unknown name.
  """
  if name not in RANKING_LOSSES:
    raise ValueError(f"ranking_loss must be one of {sorted(RANKING_LOSSES)}, "
                     f"got '{name}'.")
  return RANKING_LOSSES[name](reduction=reduction)
