import numpy as np
import pytest

from tfrs_ltttd.evaluation.metrics import dcg, mrr, ndcg_at_k, recall_at_k


def test_hand_computed_case():
  # Ranked labels [0, 2, 1]: DCG@3 = 0 + 3 / log2(3) + 1 / log2(4)
  #   = 1.8928 + 0.5 = 2.3928; ideal [2, 1]: 3 + 1 / log2(3) = 3.6309.
  labels = np.array([[0, 2, 1]])
  np.testing.assert_allclose(dcg(labels), [2.39279], rtol=1e-5)
  np.testing.assert_allclose(ndcg_at_k(labels, [[2, 1]]), 2.39279 / 3.63093,
                             rtol=1e-5)
  assert mrr(labels) == 0.5
  assert recall_at_k(labels, [3], k=2) == pytest.approx(1 / 3)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_match_tf_ranking_when_the_list_holds_every_relevant_item(k):
  tfr = pytest.importorskip(
      "tensorflow_ranking",
      reason="TF-Ranking imports only on the pinned TF 2.15 stack")
  rng = np.random.default_rng(k)
  y_true = rng.integers(0, 3, (6, 7)).astype(np.float32)
  y_true[:, 0] = 1.0  # every list has a relevant item
  y_pred = rng.normal(size=(6, 7)).astype(np.float32)
  ranked = np.take_along_axis(y_true, np.argsort(-y_pred, axis=1), axis=1)
  num_relevant = (y_true > 0).sum(axis=1)
  pairs = [
      (ndcg_at_k(ranked, y_true, k), tfr.keras.metrics.NDCGMetric(topn=k)),
      (mrr(ranked, k), tfr.keras.metrics.MRRMetric(topn=k)),
      (recall_at_k(ranked, num_relevant, k),
       tfr.keras.metrics.RecallMetric(topn=k)),
  ]
  for ours, metric in pairs:
    metric.update_state(y_true, y_pred)
    np.testing.assert_allclose(ours, metric.result().numpy(), rtol=1e-5,
                               err_msg=metric.name)


def test_missed_relevant_items_count_against_ndcg():
  # The returned list holds one of two equally relevant items.
  assert ndcg_at_k([[1, 0]], [[1, 1]]) < 1.0
  assert ndcg_at_k([[1, 1]], [[1, 1]]) == pytest.approx(1.0)


def test_bad_input():
  with pytest.raises(ValueError, match="num_relevant must be > 0"):
    recall_at_k([[1, 0]], [0])
  with pytest.raises(ValueError, match="labels must be"):
    mrr([1, 0])
  with pytest.raises(ValueError, match="k must be >= 1"):
    ndcg_at_k([[1]], [[1]], k=0)


def test_irretrievable_rate_pools_relevant_items():
  from tfrs_ltttd.evaluation.metrics import irretrievable_rate  # noqa: PLC0415
  # Query 1: 1 of 1 relevant retrieved; query 2: 1 of 3. Pooled: 2 of 4
  # retrieved -> 0.5 irretrievable (1 - mean recall would be 1/3).
  labels = np.array([[1, 0], [0, 2]])
  assert irretrievable_rate(labels, [1, 3]) == pytest.approx(0.5)
  with pytest.raises(ValueError, match="at least one relevant"):
    irretrievable_rate(labels, [0, 0])


def test_upqe_hand_case_and_bounds():
  from tfrs_ltttd.evaluation.metrics import upqe  # noqa: PLC0415
  # 0.5^0.4 * 0.25^0.4 * min(1, 10 / 20)^0.2 = 0.75786 * 0.57435 * 0.87055
  assert upqe(0.5, 0.25, 20.0) == pytest.approx(0.378929, rel=1e-5)
  assert upqe(0.5, 0.25, 5.0) == pytest.approx(0.5**0.4 * 0.25**0.4)
  assert upqe(0.9, 0.0, 1.0) == 0.0  # a collapsed component zeroes it
  with pytest.raises(ValueError, match="weights"):
    upqe(0.5, 0.5, 1.0, weights=(0.5, 0.5, 0.5))
  with pytest.raises(ValueError, match="latency_ms"):
    upqe(0.5, 0.5, 0.0)
