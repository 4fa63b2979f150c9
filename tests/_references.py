"""What several test modules share: numpy references, small settings and
assertions (test modules never import one another)."""

import numpy as np
import tensorflow as tf

from tfrs_ltttd import ModelConfig, TrainConfig
from tfrs_ltttd.serving import Recommender
from tfrs_ltttd.training import checkpoint

#: A model and training run small enough for seconds-long tests.
SMALL_MODEL = ModelConfig(output_dim=16, embedding_dim=8, hidden_units=(32,),
                          num_layers=1, num_heads=2, width=16, history_length=5)
SMALL_TRAIN = TrainConfig(epochs=4, batch_size=64, list_batch_size=64,
                          list_size=12, num_positives=3,
                          num_in_batch_negatives=2, num_hard_negatives=3,
                          hard_negative_depth=30, hard_negative_skip=5,
                          learning_rate=3e-3)


def np_log_softmax(x):
  x = x - x.max(axis=-1, keepdims=True)
  return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def np_kl(teacher, student, mask, t):
  """T^2 * KL(softmax(teacher/T) || softmax(student/T)) over real slots."""
  out = []
  for tr, sr, mr in zip(teacher, student, mask):
    lp, lq = np_log_softmax(tr[mr] / t), np_log_softmax(sr[mr] / t)
    out.append(t**2 * np.sum(np.exp(lp) * (lp - lq)))
  return np.array(out)


def np_softmax_loss(labels, scores):
  """TF-Ranking's softmax loss, mean over lists: each list's cross-entropy
  of normalised labels vs the softmax of the real slots, times its label sum."""
  out = []
  for y, s in zip(labels, scores):
    real = y >= 0
    total = y[real].sum()
    out.append(0.0 if total == 0 else
               -total * np.sum(y[real] / total * np_log_softmax(s[real])))
  return np.mean(out)


def numpy_top_k(queries, items, k):
  """Exact top-k by inner product: `(scores [Q, k], rows [Q, k])`, ties in
  row order."""
  scores = queries @ items.T
  rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  return np.take_along_axis(scores, rows, axis=1), rows


def assert_never_saw_test(datasets, data):
  """No split of any of `datasets` holds an interaction of `data.test`."""
  test_pairs = set(zip(data.test["user"].tolist(), data.test["item"].tolist()))
  assert datasets
  for d in datasets:
    pairs = set(zip(d.train["user"].tolist(), d.train["item"].tolist())) | set(
        zip(d.test["user"].tolist(), d.test["item"].tolist()))
    assert not pairs & test_pairs


def assert_export_serves_the_checkpoint(out, ckpt, query, num_candidates):
  """The export answers 2 queries (with histories) with 5 items each, the
  same the model rebuilt from the checkpoint gives; returns its data."""
  query = {**{k: tf.constant(v) for k, v in query.items()},
           "history_item_ids": tf.constant([[5, 9, -1], [-1, -1, -1]],
                                           tf.int64),
           "history_labels": tf.constant([[2.0, 1.0, 0.0], [0.0] * 3])}
  loaded = tf.saved_model.load(str(out / "ltttd" / "1"))
  result = loaded.signatures["serving_default"](**query)
  assert result["item_ids"].shape == (2, 5)
  model, data = checkpoint.load(ckpt)
  again = Recommender(model, data.items, num_candidates=num_candidates,
                      k=5).recommend(query)
  np.testing.assert_array_equal(again["item_ids"], result["item_ids"])
  return data


def count_ease_fits(monkeypatch, module) -> list:
  """Makes `module.ease_weights` record its lambdas in the list returned."""
  fits = []
  real = module.ease_weights

  def counted(x, l2):
    fits.append(l2)
    return real(x, l2)

  monkeypatch.setattr(module, "ease_weights", counted)
  return fits
