import numpy as np
import pytest
import tensorflow as tf

from tests._references import numpy_top_k
from tfrs_ltttd.retrieval import ExactTopK


@pytest.mark.parametrize("num,chunk,group,k", [
    (1000, 64, 8, 10),     # many chunks, the last one full
    (1001, 64, 8, 50),     # a padded last chunk
    (37, 16, 4, 9),        # tiny, padding in the only chunk
    (500, 4096, 32, 5),    # one chunk, capped at the catalogue
    (40, 16, 4, 30),       # k above the number of groups: every score
    (2000, None, 32, 100),  # the derived chunk size
])
def test_equals_numpy_exact_top_k(num, chunk, group, k):
  rng = np.random.default_rng(num)
  items = rng.normal(size=(num, 16)).astype(np.float32)
  queries = rng.normal(size=(7, 16)).astype(np.float32)
  ids = np.arange(num, dtype=np.int64) * 3 + 100
  index = ExactTopK(k=k, chunk_size=chunk, group_size=group).index(
      tf.constant(items), tf.constant(ids))
  assert index.is_exact()
  scores, got = index(tf.constant(queries))
  want_scores, want_rows = numpy_top_k(queries, items, k)
  np.testing.assert_array_equal(got.numpy(), ids[want_rows])
  np.testing.assert_allclose(scores.numpy(), want_scores, atol=1e-5)
  # A smaller k at call time, and one query alone.
  _, few = index(tf.constant(queries[:1]), k=3)
  np.testing.assert_array_equal(few.numpy(), ids[want_rows[:1, :3]])
  # The index's own copy gives back every catalogue row, in any shape.
  rows = rng.integers(0, num, (4, 6))
  np.testing.assert_array_equal(index.embeddings(tf.constant(rows)), items[rows])
  np.testing.assert_array_equal(index.embeddings(tf.range(num)), items)


def test_matches_tfrs_bruteforce_and_exports_with_stock_ops(tmp_path):
  import tensorflow_recommenders as tfrs  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  items = tf.constant(rng.normal(size=(3000, 8)).astype(np.float32))
  queries = tf.constant(rng.normal(size=(5, 8)).astype(np.float32))
  ours = ExactTopK(k=20, chunk_size=512).index(items)
  theirs = tfrs.layers.factorized_top_k.BruteForce(k=20).index(items)
  np.testing.assert_array_equal(ours(queries)[1], theirs(queries)[1])

  module = tf.Module()
  module.index = ours
  module.serve = tf.function(lambda q: ours(q)[1], input_signature=[
      tf.TensorSpec([None, 8], tf.float32)])
  tf.saved_model.save(module, str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  graph = loaded.serve.get_concrete_function().graph.as_graph_def()
  ops = {n.op for n in graph.node} | {
      n.op for f in graph.library.function for n in f.node_def}
  assert "MatMul" in ops and "TopKV2" in ops
  assert not {"While", "StatelessWhile", "If", "StatelessIf"} & ops
  np.testing.assert_array_equal(loaded.serve(queries), theirs(queries)[1])


def test_bad_use_is_a_clear_error():
  with pytest.raises(ValueError, match="chunk_size and group_size"):
    ExactTopK(group_size=0)
  index = ExactTopK(k=3)
  with pytest.raises(ValueError, match="index"):
    index(tf.zeros([1, 4]))
  with pytest.raises(ValueError, match="2D"):
    index.index(tf.zeros([4]))
  with pytest.raises(ValueError, match="identifiers"):
    index.index(tf.zeros([4, 2]), tf.range(3))
  index.index(tf.zeros([4, 2]))
  with pytest.raises(ValueError, match="k must be in"):
    index(tf.zeros([1, 2]), k=5)
