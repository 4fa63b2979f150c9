"""The package's listwise losses against TF-Ranking, where it imports.

TF-Ranking needs TF < 2.16, so on the maintained stack these tests skip and
`tests/test_losses.py` (numpy references) still runs.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd import losses

tfr = pytest.importorskip(
    "tensorflow_ranking",
    reason="TF-Ranking imports only on the pinned TF 2.15 stack")

REDUCTIONS = [tf.keras.losses.Reduction.SUM_OVER_BATCH_SIZE,
              tf.keras.losses.Reduction.NONE]
TFR_NAMES = {"softmax": "softmax_loss", "listmle": "list_mle_loss",
             "approx_ndcg": "approx_ndcg_loss",
             "pairwise_logistic": "pairwise_logistic_loss"}


def _lists(padding=True, ties=True, seed=0):
  """Graded labels (many ties), padding (-1), one all-zero list."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 3 if ties else 100, size=(6, 7)).astype(np.float32)
  if not ties:  # distinct labels per list
    labels = np.argsort(rng.random((6, 7)), axis=1).astype(np.float32)
  if padding:
    labels[1, 5:] = -1.0
    labels[3, 2:] = -1.0
  if ties:
    labels[4] = 0.0
  scores = rng.normal(scale=2.0, size=labels.shape).astype(np.float32)
  scores[2, :3] = 0.5  # tied scores
  return labels, scores


def _value_and_grad(loss, labels, scores):
  s = tf.Variable(scores)
  with tf.GradientTape() as tape:
    value = loss(tf.constant(labels), s)
    total = tf.reduce_sum(value)
  return np.reshape(value.numpy(), [-1]), tape.gradient(total, s).numpy()


def _assert_matches_tfr(name, reduction, labels, scores, value_atol=1e-6):
  ours = _value_and_grad(losses.ranking_loss(name, reduction), labels, scores)
  ref = _value_and_grad(tfr.keras.losses.get(TFR_NAMES[name],
                                             reduction=reduction),
                        labels, scores)
  np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5, atol=value_atol)
  np.testing.assert_allclose(ours[1], ref[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["softmax", "approx_ndcg",
                                  "pairwise_logistic"])
def test_values_and_gradients_match_tfr(name, reduction):
  _assert_matches_tfr(name, reduction, *_lists())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_listmle_matches_tfr_without_label_ties(reduction):
  _assert_matches_tfr("listmle", reduction,
                      *_lists(padding=False, ties=False), value_atol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_listmle_matches_tfr_with_ties_and_padding(reduction):
  # Both break label ties by the same seeded shuffle; TF-Ranking keeps padded
  # slots in the sums, which adds log(n_pad!) per list (and nothing to the
  # gradient).
  labels, scores = _lists()
  n_pad = (labels < 0).sum(axis=1)
  offset = np.array([math.lgamma(n + 1) for n in n_pad], np.float32)
  tf.random.set_seed(5)
  ours = _value_and_grad(
      losses.ListMLELoss(seed=37, reduction=reduction), labels, scores)
  tf.random.set_seed(5)
  ref = _value_and_grad(tfr.keras.losses.get("list_mle_loss",
                                             reduction=reduction),
                        labels, scores)
  if reduction == tf.keras.losses.Reduction.NONE:
    np.testing.assert_allclose(ours[0] + offset, ref[0], rtol=1e-5, atol=1e-4)
  else:
    np.testing.assert_allclose(ours[0] + offset.mean(), ref[0], rtol=1e-5,
                               atol=1e-4)
  np.testing.assert_allclose(ours[1], ref[1], rtol=1e-4, atol=1e-5)


def test_listmle_tie_orders_are_the_ones_tfr_draws():
  # Unseeded, each call draws one order of the tied labels; over many calls
  # both losses take the same set of values (here 2! * 2! = 4 orders).
  labels = np.array([[1.0, 1.0, 0.0, 0.0]], np.float32)
  scores = np.array([[0.3, -1.2, 2.0, 0.1]], np.float32)
  ours = losses.ListMLELoss(reduction="none")
  ref = tfr.keras.losses.ListMLELoss(reduction="none")
  seen_ours = {round(float(ours(labels, scores)[0]), 4) for _ in range(200)}
  seen_ref = {round(float(np.ravel(ref(labels, scores))[0]), 4)
              for _ in range(200)}
  assert len(seen_ours) == 4
  assert seen_ours == seen_ref
