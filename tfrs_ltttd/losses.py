"""Losses of the LT-TTD objective.

This is the only module that imports `tensorflow_ranking`, so that the rest of
the package keeps working where it cannot be imported (TF >= 2.16).
"""

from __future__ import annotations

import tensorflow as tf

RANKING_LOSSES = {
    "softmax": "softmax_loss",
    "listmle": "list_mle_loss",
    "approx_ndcg": "approx_ndcg_loss",
    "pairwise_logistic": "pairwise_logistic_loss",
}


def ranking_loss(
    name: str = "softmax",
    reduction: str = tf.keras.losses.Reduction.SUM_OVER_BATCH_SIZE,
) -> tf.keras.losses.Loss:
  """Returns a `tfr.keras.losses` listwise loss by short name.

  By default the loss averages over lists (`SUM_OVER_BATCH_SIZE`), like the
  retrieval and distillation terms, so that the weights alpha, beta and
  gamma do not depend on the batch size; `LTTTDTask` asks for `NONE` and
  averages itself, which `tf.distribute` requires. Slots with a label < 0
  are padding and ignored (the TF-Ranking convention).

  Args:
    name: one of `"softmax"` (default; TF-Ranking's `SoftmaxLoss`, for list
      i: `-label_sum_i * sum_j y_ij / label_sum_i * log softmax(s_i)_j`),
      `"listmle"`, `"approx_ndcg"`, `"pairwise_logistic"`.
    reduction: a `tf.keras.losses.Reduction`.

  Returns:
    A `tf.keras.losses.Loss`.

  Raises:
    ValueError: for an unknown name.
  """
  import tensorflow_ranking as tfr  # pylint: disable=g-import-not-at-top

  if name not in RANKING_LOSSES:
    raise ValueError(f"ranking_loss must be one of {sorted(RANKING_LOSSES)}, "
                     f"got '{name}'.")
  return tfr.keras.losses.get(RANKING_LOSSES[name], reduction=reduction)


def list_kl_divergence(
    teacher_logits: tf.Tensor,
    student_logits: tf.Tensor,
    mask: tf.Tensor,
    temperature: float = 1.0,
) -> tf.Tensor:
  """Distillation KL between two score lists, per list, scaled by T^2.

  `T^2 * KL(softmax(t / T) || softmax(s / T))` over the real slots of each
  list (Hinton et al., 2015: the T^2 keeps gradient sizes comparable across
  temperatures). The teacher side is not stopped here; callers stop it.
  Lists with no real slot give 0.

  Args:
    teacher_logits: `[B, L]` teacher scores.
    student_logits: `[B, L]` student scores.
    mask: `[B, L]` bool, True for real slots.
    temperature: T > 0.

  Returns:
    `[B]` per-list divergences.

  Example:

  >>> kl = list_kl_divergence(tf.constant([[1., 0.]]), tf.constant([[1., 0.]]),
  ...                         tf.constant([[True, True]]))
  >>> float(kl[0])
  0.0
  """
  if temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}.")
  mask = tf.cast(mask, tf.bool)
  very_negative = tf.constant(-1e9, tf.float32)
  t = tf.where(mask, tf.cast(teacher_logits, tf.float32) / temperature,
               very_negative)
  s = tf.where(mask, tf.cast(student_logits, tf.float32) / temperature,
               very_negative)
  log_p = tf.nn.log_softmax(t, axis=-1)
  log_q = tf.nn.log_softmax(s, axis=-1)
  p = tf.exp(log_p)
  kl = tf.reduce_sum(tf.where(mask, p * (log_p - log_q), 0.0), axis=-1)
  return kl * temperature**2
