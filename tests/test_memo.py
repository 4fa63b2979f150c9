import gc
import weakref

import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd._memo import LastAnswers, traced


def test_keeps_the_last_answers_and_forgets_the_oldest():
  calls = []

  def compute(key):
    calls.append(key)
    return key * 10

  kept = LastAnswers(size=2)
  assert [kept.get(k, lambda k=k: compute(k)) for k in (1, 2, 1, 3, 2, 1)] \
      == [10, 20, 10, 30, 20, 10]
  # 1 and 2 are kept; 3 forgets 1 (the oldest asked first), 1 forgets 2.
  assert calls == [1, 2, 3, 1]
  assert len(kept) == 2


def test_a_failed_computation_forgets_nothing():
  kept = LastAnswers(size=1)
  kept.get("a", lambda: 1)

  def fail():
    raise RuntimeError("no answer")

  with pytest.raises(RuntimeError, match="no answer"):
    kept.get("b", fail)
  assert kept.get("a", lambda: 2) == 1


def test_size_must_be_positive():
  with pytest.raises(ValueError, match="size must be >= 1, got 0"):
    LastAnswers(size=0)


def _scaled(layer, x):
  return layer(x) * 2.0


def test_traced_traces_once_per_layer_and_reads_its_variables():
  layer = tf.keras.layers.Dense(2, use_bias=False, kernel_initializer="ones")
  layer.build((None, 4))
  x = np.ones((3, 4), np.float32)
  fn = traced(layer, _scaled)
  np.testing.assert_allclose(fn(x).numpy(), 2.0 * x @ np.ones((4, 2)))
  assert traced(layer, _scaled) is fn
  layer.kernel.assign(np.full((4, 2), 3.0))  # a variable, read at each call
  np.testing.assert_allclose(traced(layer, _scaled)(x).numpy(),
                             2.0 * x @ np.full((4, 2), 3.0))
  fn(np.ones((5, 4), np.float32))  # another batch size: one relaxed trace
  fn(np.ones((7, 4), np.float32))
  assert fn.experimental_get_tracing_count() == 2
  other = tf.keras.layers.Dense(2)
  assert traced(other, _scaled) is not fn


def test_traced_does_not_keep_its_owner_alive():
  layer = tf.keras.layers.Dense(2)
  traced(layer, _scaled)(np.ones((1, 3), np.float32))
  owner = weakref.ref(layer)
  del layer
  gc.collect()
  assert owner() is None
