import numpy as np

from tests._references import assert_never_saw_test, count_ease_fits
from tfrs_ltttd._memo import LastAnswers
from tfrs_ltttd import baselines, evaluation
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.interactions import Interactions
from tfrs_ltttd.retrieval import top_k_unseen


def _tiny():
  return synthetic.generate(synthetic.SyntheticConfig(
      num_users=40, num_items=25, interactions_per_user=6, seed=4))


def test_ease_solves_the_constrained_ridge_regression_column_by_column():
  """Reference: for each item j, b_j = argmin ||x_j - X_{-j} b||^2 +
  lambda ||b||^2 with b_j = 0, solved directly in numpy."""
  data, l2 = _tiny(), 7.0
  model = baselines.EASE(data, l2)
  x = baselines.interaction_matrix(data).astype(np.float64)
  n = x.shape[1]
  want = np.zeros((n, n))
  for j in range(n):
    others = [i for i in range(n) if i != j]
    a = x[:, others]
    want[others, j] = np.linalg.solve(a.T @ a + l2 * np.eye(n - 1),
                                      a.T @ x[:, j])
  np.testing.assert_allclose(model.b, want, atol=1e-4)
  np.testing.assert_allclose(model(np.array([3, 1])), x[[3, 1]] @ want,
                             atol=1e-4)


def test_popularity_and_evaluate_scores_on_a_hand_worked_case():
  # 2 users, 4 items. Train: u0 saw item 0; u1 saw items 0 and 1.
  data = Interactions(
      users={"user_id": np.array([0, 1])},
      items={"item_id": np.arange(4)},
      train={"user": np.array([0, 1, 1]), "item": np.array([0, 0, 1]),
             "label": np.array([1.0, 1.0, 1.0])},
      test={"user": np.array([0, 1]), "item": np.array([1, 3]),
            "label": np.array([1.0, 1.0])})
  scores = baselines.Popularity(data)(np.array([0, 1]))
  np.testing.assert_array_equal(scores[0], [2, 1, 0, 0])
  out = evaluation.evaluate_scores(baselines.Popularity(data), data,
                                   k_retrieval=2, k=2)
  # u0: seen {0}; order 1, 2 (3 ties with 2: stable order) -> hit at rank 1.
  # u1: seen {0, 1}; order 2, 3 -> hit at rank 2.
  assert out["recall@2"] == 1.0
  np.testing.assert_allclose(out["mrr"], (1 + 0.5) / 2)
  np.testing.assert_allclose(out["ndcg@2"], (1 + 1 / np.log2(3)) / 2)


def test_top_k_unseen_excludes_seen_items_and_pads():
  scores = np.array([[0.9, 0.8, 0.7]])
  seen = np.array([[True, False, True]])
  np.testing.assert_array_equal(top_k_unseen(scores, seen, 2),
                                [[1, -1]])


def test_lambda_is_chosen_on_validation_not_test(monkeypatch):
  data = _tiny()
  calls = []
  real = evaluation.evaluate_scores

  def spy(fn, d, *args, **kwargs):
    calls.append(d)
    return real(fn, d, *args, **kwargs)

  monkeypatch.setattr(baselines, "evaluate_scores", spy)
  monkeypatch.setattr(baselines, "_CHOSEN", LastAnswers())
  best, table = baselines.choose_ease_l2(data, lambdas=(1.0, 50.0))
  assert best in (1.0, 50.0) and set(table) == {1.0, 50.0}
  assert_never_saw_test(calls, data)


def test_lambda_is_chosen_once_per_data_set_and_split(monkeypatch):
  data = _tiny()
  fits = count_ease_fits(monkeypatch, baselines)
  monkeypatch.setattr(baselines, "_CHOSEN", LastAnswers())
  first = baselines.choose_ease_l2(data, lambdas=(1.0, 50.0))
  assert sorted(fits) == [1.0, 50.0]
  # The baselines ask again (as the search did first): no new fit but the
  # test split's own, at the chosen lambda.
  out = baselines.run_baselines(data, k_retrieval=3)
  again = baselines.choose_ease_l2(data, lambdas=(1.0, 50.0))
  assert again == first and len(fits) == 2 + len(baselines.EASE_LAMBDAS) + 1
  assert out["ease"]["l2"] == baselines.choose_ease_l2(data)[0]
  baselines.run_baselines(data, k_retrieval=3)
  assert len(fits) == 2 + len(baselines.EASE_LAMBDAS) + 2
  # Another split is another question.
  baselines.choose_ease_l2(data, lambdas=(1.0, 50.0), fraction=0.3)
  assert len(fits) == 2 + len(baselines.EASE_LAMBDAS) + 4
