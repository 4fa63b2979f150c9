import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd import LTTTDModel, ModelConfig, TrainConfig, training
from tfrs_ltttd.lists.negatives import NegativeSampler


def _draws(sampler, batches):
  batch = {"item_probability": tf.fill([4], 0.5)}
  return np.concatenate([
      sampler(tf.constant(b, tf.int64), batch)["sampled"]["item_id"].numpy()
      for b in range(batches)])


@pytest.mark.parametrize("law", ["frequency", "uniform"])
def test_draws_follow_the_law_and_repeat_per_seed(small_data, law):
  sampler = NegativeSampler(small_data, num=500, law=law, seed=3)
  ids = _draws(sampler, 40)  # 20,000 draws
  rows = np.searchsorted(small_data.items["item_id"], ids)
  assert (small_data.items["item_id"][rows] == ids).all()
  counts = np.bincount(rows, minlength=small_data.num_items)
  expected = (small_data.item_probabilities() if law == "frequency"
              else np.full(small_data.num_items, 1 / small_data.num_items))
  # Each item's share within 5 standard errors of its probability.
  n = counts.sum()
  se = np.sqrt(expected * (1 - expected) / n)
  assert (np.abs(counts / n - expected) <= 5 * se + 1e-9).all()
  np.testing.assert_array_equal(ids, _draws(sampler, 40))
  other = NegativeSampler(small_data, num=500, law=law, seed=4)
  assert (ids != _draws(other, 40)).mean() > 0.5


def test_batches_carry_both_laws(small_data):
  sampler = NegativeSampler(small_data, num=6, law="uniform")
  batch = sampler(tf.constant(0, tf.int64),
                  {"item_probability": tf.constant([0.1, 0.2])})
  rows = np.searchsorted(small_data.items["item_id"],
                         batch["sampled"]["item_id"].numpy())
  np.testing.assert_allclose(batch["sampled_batch_probability"],
                             small_data.item_probabilities()[rows])
  np.testing.assert_allclose(batch["sampled_probability"],
                             1 / small_data.num_items)
  np.testing.assert_allclose(batch["item_sampled_probability"],
                             [1 / small_data.num_items] * 2)
  assert set(batch["sampled"]) == set(small_data.items)


def test_bad_settings_name_the_field(small_data):
  with pytest.raises(ValueError, match="num_sampled_negatives"):
    NegativeSampler(small_data, num=0)
  with pytest.raises(ValueError, match="negative_sampling"):
    NegativeSampler(small_data, num=3, law="zipf")
  with pytest.raises(ValueError, match="negative_sampling"):
    TrainConfig(negative_sampling="zipf")


def test_fit_with_sampled_negatives_lowers_the_retrieval_loss(small_data):
  model = LTTTDModel.from_data(small_data, ModelConfig(
      output_dim=8, embedding_dim=8, hidden_units=(16,), num_layers=1,
      num_heads=2, width=8, history_length=3))
  history = training.fit(model, small_data, TrainConfig(
      epochs=3, batch_size=64, list_batch_size=32, list_size=10,
      num_positives=2, num_hard_negatives=2, hard_negative_depth=20,
      hard_negative_skip=2, num_in_batch_negatives=2,
      num_sampled_negatives=32, learning_rate=3e-3), verbose=0)
  assert history["retrieval_loss"][-1] < 0.9 * history["retrieval_loss"][0]
