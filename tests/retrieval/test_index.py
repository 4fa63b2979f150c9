import numpy as np
import pytest
import tensorflow as tf

from tests._references import numpy_top_k
from tfrs_ltttd import LTTTDModel, TrainConfig, training
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.history import serving_query
from tfrs_ltttd.retrieval import ScaNN, ScaNNConfig, build_index, encode_catalogue


def test_bruteforce_equalsnumpy_top_k():
  rng = np.random.default_rng(0)
  items = rng.normal(size=(300, 8)).astype(np.float32)
  queries = rng.normal(size=(20, 8)).astype(np.float32)
  ids = np.arange(1000, 1300, dtype=np.int64)
  scores, got = build_index(items, ids, k=15)(tf.constant(queries))
  want_scores, want_rows = numpy_top_k(queries, items, 15)
  np.testing.assert_array_equal(got.numpy(), ids[want_rows])
  np.testing.assert_allclose(scores, want_scores, rtol=1e-5)


def test_scann_searching_every_leaf_with_full_reordering_is_exact():
  rng = np.random.default_rng(1)
  items = rng.normal(size=(200, 8)).astype(np.float32)
  queries = rng.normal(size=(10, 8)).astype(np.float32)
  exact = ScaNNConfig(num_leaves=2, num_leaves_to_search=2,
                      num_reordering_candidates=200)
  scores, rows = build_index(items, kind="scann", k=10, scann=exact)(
      tf.constant(queries))
  want_scores, want_rows = numpy_top_k(queries, items, 10)
  np.testing.assert_array_equal(rows.numpy(), want_rows)
  np.testing.assert_allclose(scores, want_scores, rtol=1e-4)


@pytest.mark.slow
def test_scann_defaults_reach_0_95_recall_on_the_demo_catalogue():
  """The demo's catalogue (1000 items), embedded by a briefly trained
  item tower; ScaNN's top-200 with default settings against BruteForce's."""
  data = synthetic.generate()
  tf.keras.utils.set_random_seed(0)
  model = LTTTDModel.from_data(data)
  training.fit(model, data, TrainConfig(epochs=1), verbose=0)
  embeddings, _ = encode_catalogue(model.item_tower, data.items)
  queries = model.query_tower(serving_query(
      data, np.arange(data.num_users), model.query_tower.history_length))
  _, exact = build_index(embeddings, kind="bruteforce", k=200)(queries)
  _, approx = build_index(embeddings, kind="scann", k=200)(queries)
  exact, approx = exact.numpy(), approx.numpy()
  recall = np.mean([len(set(a) & set(e)) / 200 for a, e in zip(approx, exact)])
  assert recall >= 0.95


def test_encode_catalogue_matches_the_tower(small_data):
  model = LTTTDModel.from_data(small_data)
  embeddings, residuals = encode_catalogue(model.item_tower, small_data.items,
                                           batch_size=64)
  want, want_residuals = model.item_tower.embed_with_residual(small_data.items)
  np.testing.assert_allclose(embeddings, want, atol=1e-6)
  np.testing.assert_allclose(residuals, want_residuals, atol=1e-6)
  assert len(embeddings) == small_data.num_items


def test_scann_defaults_follow_the_catalogue_size():
  big = ScaNNConfig().resolve(1_000_000, 200)
  assert (big.num_leaves, big.num_leaves_to_search,
          big.num_reordering_candidates) == (1000, 20, 1000)
  assert big.anisotropic_quantization_threshold == 0.2
  small = ScaNNConfig().resolve(1000, 200)
  assert small.num_leaves_to_search == small.num_leaves  # exhaustive
  with pytest.raises(ValueError, match="num_leaves_to_search"):
    ScaNNConfig(num_leaves=4, num_leaves_to_search=5).resolve(100, 10)


@pytest.mark.parametrize("kwargs,match", [
    ({"kind": "annoy"}, "index kind must be one of"),
    ({"k": 11}, r"k must be in \[1, 10\]"),
    ({"identifiers": np.arange(3), "k": 2}, "identifiers has 3 rows"),
])
def test_bad_index_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    build_index(np.ones((10, 4), np.float32), **kwargs)


def test_scann_layer_builds_with_the_anisotropic_threshold():
  items = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
  config = ScaNNConfig(anisotropic_quantization_threshold=0.3,
                       training_sample_size=300).resolve(300, 5)
  index = ScaNN(config, k=5).index(tf.constant(items))
  text = index.scann_config_text
  assert "noise_shaping_threshold: 0.3" in text, text  # ScaNN's name
  assert f"num_children: {config.num_leaves}" in text
  plain = ScaNN(ScaNNConfig(anisotropic_quantization_threshold=None).resolve(
      300, 5), k=5).index(tf.constant(items))
  assert "noise_shaping_threshold: nan" in plain.scann_config_text
  with pytest.raises(ValueError, match="resolved"):
    ScaNN(ScaNNConfig())
