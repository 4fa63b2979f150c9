"""The benchmarks' own arithmetic, against hand-computed cases."""

import pytest
import tensorflow as tf

from benchmarks import common


def test_matmul_flops_counts_every_product_with_its_transposes():
  @tf.function
  def graph(a, b, c, d):
    plain = tf.matmul(a, b)  # [3, 5] x [5, 7]: 2 * 3 * 5 * 7
    transposed = tf.matmul(b, a, transpose_a=True, transpose_b=True)  # [7, 3]
    batched = tf.matmul(c, d, transpose_b=True)  # [2, 3, 5] x [2, 7, 5]^T
    broadcast = tf.matmul(c, b)  # [2, 3, 5] x [5, 7]
    return plain, transposed, batched, broadcast, tf.nn.relu(plain)

  concrete = graph.get_concrete_function(
      tf.TensorSpec([3, 5]), tf.TensorSpec([5, 7]), tf.TensorSpec([2, 3, 5]),
      tf.TensorSpec([2, 7, 5]))
  assert common.matmul_flops(concrete) == 210 + 210 + 420 + 420


def test_matmul_flops_refuses_a_dynamic_shape():
  concrete = tf.function(tf.matmul).get_concrete_function(
      tf.TensorSpec([None, 5]), tf.TensorSpec([5, 7]))
  with pytest.raises(ValueError, match="not static"):
    common.matmul_flops(concrete)
