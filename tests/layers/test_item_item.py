import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd.data import synthetic
from tfrs_ltttd.evaluation import baselines
from tfrs_ltttd.layers import ItemItemScores, ease_weights, top_neighbours


def _reference(dense, history_rows, candidate_rows):
  """sum_h dense[h, j] over the real history rows, 0 for padded candidates."""
  out = np.zeros(candidate_rows.shape, np.float64)
  for b, (hist, cands) in enumerate(zip(history_rows, candidate_rows)):
    hist = hist[hist >= 0]
    for slot, j in enumerate(cands):
      if j >= 0:
        out[b, slot] = dense[hist, j].sum()
  return out


def test_scores_sum_the_kept_neighbours_of_the_history():
  rng = np.random.default_rng(0)
  num_items, n = 40, 6
  weights = rng.normal(size=(num_items, num_items)).astype(np.float32)
  rows, values = top_neighbours(weights, n)
  dense = np.zeros_like(weights)  # the table the layer holds, made dense
  np.put_along_axis(dense, rows, values, axis=1)
  assert (np.sort(dense, axis=1)[:, -n:] == np.sort(weights, axis=1)[:, -n:]
          ).all()

  ids = np.arange(100, 100 + num_items)
  layer = ItemItemScores(ids, num_neighbours=n)
  layer.set_table(rows, values)
  history = rng.integers(0, num_items, (5, 8))
  history[0, 3:] = -1  # padding
  history[1, :] = -1  # an empty history
  candidates = rng.integers(0, num_items, (5, 30))
  candidates[2, -4:] = -1
  got = layer(tf.constant(np.where(history >= 0, ids[history], -1)),
              tf.constant(np.where(candidates >= 0, ids[candidates], -1)))
  np.testing.assert_allclose(got, _reference(dense, history, candidates),
                             atol=1e-5)
  # An id outside the vocabulary adds nothing and scores 0.
  unknown = layer(tf.constant([[ids[3], 7]]), tf.constant([[ids[5], 7]]))
  np.testing.assert_allclose(unknown, [[dense[3, 5], 0.0]], atol=1e-6)


def test_every_neighbour_kept_gives_ease_on_the_history():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=60, num_items=50, interactions_per_user=6, seed=4))
  ease = baselines.EASE(data, l2=20.0)
  layer = ItemItemScores(data.items["item_id"], num_neighbours=data.num_items)
  layer.set_table(*top_neighbours(ease.b, data.num_items))
  users = np.arange(10)
  seen = [data.train["item"][data.train["user"] == u] for u in users]
  width = max(len(s) for s in seen)
  history = np.full((len(users), width), -1)
  for row, s in enumerate(seen):
    history[row, :len(s)] = data.items["item_id"][s]
  every = np.tile(data.items["item_id"], (len(users), 1))
  np.testing.assert_allclose(layer(tf.constant(history), tf.constant(every)),
                             ease(users), rtol=1e-4, atol=1e-4)


def test_ease_weights_solve_the_penalised_least_squares():
  rng = np.random.default_rng(1)
  x = (rng.random((80, 12)) < 0.3).astype(np.float32)
  b = ease_weights(x, 5.0)
  assert np.all(np.diag(b) == 0)
  # Stationarity of ||X - XB||^2 + l2 ||B||^2 off the diagonal (the diagonal
  # is held at 0 by a Lagrange multiplier per column).
  grad = x.T @ (x @ b - x) + 5.0 * b
  off = ~np.eye(12, dtype=bool)
  np.testing.assert_allclose(grad[off], 0.0, atol=1e-3)
  with pytest.raises(ValueError, match="l2 must be > 0"):
    ease_weights(x, 0.0)


def test_string_ids_and_a_round_trip_through_config_and_weights():
  layer = ItemItemScores(["a", "b", "c"], num_neighbours=2)
  layer.set_table(np.array([[1, 2], [0, 2], [0, 1]]),
                  np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
  history, candidates = tf.constant([["a", "c", ""]]), tf.constant(
      [["b", "c", "a", "zz"]])
  want = [[1.0 + 6.0, 2.0, 5.0, 0.0]]
  np.testing.assert_allclose(layer(history, candidates), want)
  again = ItemItemScores.from_config(layer.get_config())
  again.set_weights(layer.get_weights())
  np.testing.assert_allclose(again(history, candidates), want)


@pytest.mark.parametrize("args,match", [
    (dict(vocabulary=[1, 1], num_neighbours=1), "unique"),
    (dict(vocabulary=[], num_neighbours=1), "non-empty"),
    (dict(vocabulary=[1, 2], num_neighbours=0), "num_neighbours"),
])
def test_bad_settings_name_what_is_wrong(args, match):
  with pytest.raises(ValueError, match=match):
    ItemItemScores(**args)


def test_a_table_of_the_wrong_shape_is_refused():
  layer = ItemItemScores([1, 2, 3], num_neighbours=2)
  with pytest.raises(ValueError, match=r"must be \(3, 2\)"):
    layer.set_table(np.zeros((3, 1), np.int64), np.zeros((3, 1)))
  with pytest.raises(ValueError, match="item rows"):
    layer.set_table(np.full((3, 2), 3), np.zeros((3, 2)))
