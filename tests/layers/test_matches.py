"""HistoryMatches and item_attributes against numpy references."""

import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd import LTTTDModel, ModelConfig
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.layers.matches import HistoryMatches, item_attributes


def test_attributes_are_categorical_columns_and_flag_groups():
  items = {"id": np.array([5, 6, 7]),
           "brand": np.array(["x", "", "y"]),
           "shelf": np.array([3, 1, 3]),
           "genre_a": np.array([1.0, 0.0, 1.0], np.float32),
           "genre_b": np.array([0.0, 0.0, 1.0], np.float32),
           "price": np.array([1.5, 2.0, 0.0], np.float32)}
  out = item_attributes(items, "id")
  assert sorted(out) == ["brand", "genre", "shelf"]
  values, size = out["brand"]
  assert size == 2 and values.tolist() == [[0], [-1], [1]]  # "" is none
  values, size = out["shelf"]
  assert size == 2 and values.tolist() == [[1], [0], [1]]
  values, size = out["genre"]
  assert size == 2 and values.tolist() == [[0, -1], [-1, -1], [0, 1]]


def _reference(tables, sizes, vocabulary, history, candidates):
  """share and latest per attribute, by loops over sets."""
  row = {v: i for i, v in enumerate(vocabulary)}
  out = np.zeros(candidates.shape + (2 * len(tables),), np.float32)
  for b in range(len(history)):
    past = [row[h] for h in history[b] if h in row]
    for j, c in enumerate(candidates[b]):
      if c not in row:
        continue
      for a, name in enumerate(sorted(tables)):
        own = {v for v in tables[name][row[c]] if v >= 0}
        held = [{v for v in tables[name][p] if v >= 0} for p in past]
        if own and past:
          out[b, j, 2 * a] = np.mean(
              [np.mean([v in h for h in held]) for v in own])
        latest = history[b][0] in row and own & held[0]
        out[b, j, 2 * a + 1] = float(bool(latest))
  return out


def test_matches_follow_the_sets_of_the_history():
  rng = np.random.default_rng(0)
  vocabulary = np.arange(100, 130)
  tables = {"brand": rng.integers(-1, 4, (30, 1)),
            "genre": np.where(rng.random((30, 3)) < 0.6, np.stack(
                [rng.permutation(5)[:3] for _ in range(30)]), -1)}
  sizes = {"brand": 4, "genre": 5}
  history = rng.choice(np.r_[vocabulary, -1, 999], (6, 7))
  history[2] = -1  # no history at all
  history[3, 0] = -1  # the latest slot empty
  candidates = rng.choice(np.r_[vocabulary, -1, 999], (6, 9))
  layer = HistoryMatches(vocabulary, {n: (t.shape[1], sizes[n])
                                      for n, t in tables.items()})
  layer.set_tables(tables)
  got = layer(tf.constant(history), tf.constant(candidates)).numpy()
  np.testing.assert_allclose(
      got, _reference(tables, sizes, vocabulary, history, candidates),
      atol=1e-6)
  # From its config, with the same tables, the same function.
  again = HistoryMatches.from_config(layer.get_config())
  again.set_tables(tables)
  np.testing.assert_array_equal(
      again(tf.constant(history), tf.constant(candidates)).numpy(), got)


def test_bad_tables_and_ids_are_named():
  layer = HistoryMatches([1, 2], {"brand": (1, 3)})
  with pytest.raises(ValueError, match=r"expected the attributes \['brand'\]"):
    layer.set_tables({"genre": np.zeros((2, 1))})
  with pytest.raises(ValueError, match=r"'brand' must be \(2, 1\)"):
    layer.set_tables({"brand": np.zeros((3, 1))})
  with pytest.raises(ValueError, match=r"'brand' values must be in \[0, 3\)"):
    layer.set_tables({"brand": np.array([[0], [3]])})
  with pytest.raises(ValueError, match="ids are string, the vocabulary int64"):
    layer(tf.constant([["a"]]), tf.constant([["b"]]))
  with pytest.raises(ValueError, match="no attributes to match"):
    HistoryMatches([1, 2], {})


def test_the_model_reads_matches_of_every_item_attribute():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=30, num_items=40, interactions_per_user=6))
  config = ModelConfig(output_dim=8, width=8, history_length=4)
  model = LTTTDModel.from_data(data, config)
  brands = data.items["item_brand"]
  assert dict(model.history_matches.attributes) == {
      "item_brand": (1, len(set(brands))),
      "item_category": (1, len(set(data.items["item_category"])))}
  values = model.history_matches.tables["item_brand"].numpy()[:, 0]
  # Items of one brand share one value, items of two brands two.
  assert len(set(zip(brands, values))) == len(set(brands)) == len(
      set(values))
  off = LTTTDModel.from_data(
      data, ModelConfig(output_dim=8, width=8, history_length=4,
                        history_matches=False))
  assert off.history_matches is None
  assert LTTTDModel.from_data(data, ModelConfig(
      output_dim=8, width=8, history_length=0)).history_matches is None
