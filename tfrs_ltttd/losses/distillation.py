"""The distillation term: a KL divergence between two lists' scores."""

from __future__ import annotations

import tensorflow as tf

from tfrs_ltttd.settings import POSITIVE


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
  problem = POSITIVE.problem(temperature)
  if problem:
    raise ValueError(f"temperature {problem}, got {temperature}.")
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
