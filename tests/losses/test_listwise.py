import numpy as np
import pytest

from tests._references import np_kl, np_softmax_loss
from tfrs_ltttd import losses


def test_kl_hand_case():
  # p = softmax([2, 0]) = [0.8808, 0.1192], q = uniform:
  # KL = 0.8808 ln(0.8808 / 0.5) + 0.1192 ln(0.1192 / 0.5)
  #    = 0.8808 * 0.5662 - 0.1192 * 1.4338 = 0.3278; T = 1.
  kl = losses.list_kl_divergence([[2.0, 0.0]], [[1.0, 1.0]], [[True, True]])
  np.testing.assert_allclose(kl, [0.3278], atol=1e-4)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_kl_matches_numpy_with_mask_and_temperature(temperature):
  rng = np.random.default_rng(0)
  t, s = rng.normal(size=(2, 6, 5)).astype(np.float32)
  mask = rng.random((6, 5)) > 0.3
  mask[:, 0] = True
  got = losses.list_kl_divergence(t, s, mask, temperature)
  np.testing.assert_allclose(got, np_kl(t, s, mask, temperature), rtol=1e-4,
                             atol=1e-6)


def test_kl_ignores_padding_and_is_zero_for_equal_lists():
  t = np.array([[1.0, 2.0, 50.0]], np.float32)
  s = np.array([[1.0, 2.0, -50.0]], np.float32)
  kl = losses.list_kl_divergence(t, s, [[True, True, False]], 2.0)
  np.testing.assert_allclose(kl, [0.0], atol=1e-6)


def test_kl_rejects_non_positive_temperature():
  with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
    losses.list_kl_divergence([[1.0]], [[1.0]], [[True]], 0.0)


def test_softmax_ranking_loss_matches_numpy():
  labels = np.array([[2.0, 0.0, 1.0, -1.0], [0.0, 1.0, 0.0, 0.0],
                     [0.0, 0.0, -1.0, -1.0]], np.float32)
  scores = np.array([[0.5, 1.0, -0.3, 9.0], [0.1, 0.2, 0.3, 0.4],
                     [1.0, 2.0, 3.0, 4.0]], np.float32)
  got = losses.ranking_loss("softmax")(labels, scores)
  np.testing.assert_allclose(got, np_softmax_loss(labels, scores), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(losses.RANKING_LOSSES))
def test_every_named_loss_is_finite_and_ignores_padding(name):
  loss = losses.ranking_loss(name)
  labels = np.array([[1.0, 0.0, -1.0]], np.float32)
  a = loss(labels, np.array([[0.3, 0.1, 5.0]], np.float32))
  b = loss(labels, np.array([[0.3, 0.1, -7.0]], np.float32))
  assert np.isfinite(a.numpy())
  np.testing.assert_allclose(a, b, rtol=1e-5)


def test_unknown_ranking_loss_names_the_choices():
  with pytest.raises(ValueError, match="ranking_loss must be one of"):
    losses.ranking_loss("hinge")
