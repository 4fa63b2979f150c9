import numpy as np
import pytest
import tensorflow as tf

from tests._references import np_kl, np_log_softmax, np_softmax_loss
from tfrs_ltttd import LTTTDTask

B, L, D = 4, 5, 3


def _case(seed=0):
  rng = np.random.default_rng(seed)
  q = rng.normal(size=(B, D)).astype(np.float32)
  i = rng.normal(size=(B, D)).astype(np.float32)
  tower = rng.normal(size=(B, L)).astype(np.float32)
  transformer = rng.normal(size=(B, L)).astype(np.float32)
  labels = rng.integers(0, 3, (B, L)).astype(np.float32)
  mask = rng.random((B, L)) > 0.2
  mask[:, 0] = True
  probability = rng.uniform(0.01, 0.2, B).astype(np.float32)
  ids = np.array([7, 8, 7, 9], np.int64)  # rows 0 and 2 share a positive
  return q, i, tower, transformer, labels, mask, probability, ids


def np_retrieval(q, i, probability, ids, tau):
  """In-batch softmax: logits <q, i_j> / tau - log p_j, accidental hits
  (same id as the row's positive, off the diagonal) removed, mean over rows."""
  logits = q @ i.T / tau - np.log(probability)[None, :]
  hit = (ids[:, None] == ids[None, :]) & ~np.eye(len(ids), dtype=bool)
  logits = np.where(hit, -1e30, logits)
  return -np.mean(np.diag(np_log_softmax(logits)))


def _terms(task, case):
  q, i, tower, transformer, labels, mask, probability, ids = case
  return {k: v.numpy() for k, v in task.terms(
      q, i, tower, transformer, labels, mask, probability, ids).items()}


def test_each_term_and_the_total_match_numpy():
  case = _case()
  q, i, tower, transformer, labels, mask, probability, ids = case
  task = LTTTDTask(alpha=0.7, beta=1.3, gamma=2.0, temperature=2.5,
                   reverse_weight=0.4, retrieval_temperature=0.2)
  terms = _terms(task, case)
  ranked_labels = np.where(mask, labels, -1.0)
  expected = {
      "retrieval_loss": np_retrieval(q, i, probability, ids, 0.2),
      "ranking_loss": np_softmax_loss(ranked_labels, transformer),
      "distillation_loss": np_kl(transformer, tower, mask, 2.5).mean(),
      "reverse_distillation_loss": np_kl(tower, transformer, mask,
                                         2.5).mean(),
  }
  for key, value in expected.items():
    np.testing.assert_allclose(terms[key], value, rtol=1e-4, err_msg=key)
  total = task(q, i, tower, transformer, labels, mask, probability, ids)
  np.testing.assert_allclose(
      total, 0.7 * expected["retrieval_loss"] + 1.3 * expected["ranking_loss"]
      + 2.0 * expected["distillation_loss"]
      + 0.4 * expected["reverse_distillation_loss"], rtol=1e-4)


def _grads(task, case):
  q, i, tower, transformer, labels, mask, probability, ids = case
  tower, transformer = tf.Variable(tower), tf.Variable(transformer)
  with tf.GradientTape() as tape:
    loss = task(q, i, tower, transformer, labels, mask, probability, ids)
  return loss, tape.gradient(loss, [tower, transformer])


def test_distillation_pulls_only_the_towers_and_gamma_zero_removes_it():
  case = _case(1)
  loss0, (g_tower0, g_tr0) = _grads(LTTTDTask(alpha=0, beta=0, gamma=0),
                                    case)
  assert float(loss0) == 0.0 and g_tower0 is None and g_tr0 is None
  loss1, (g_tower1, g_tr1) = _grads(LTTTDTask(alpha=0, beta=0, gamma=1),
                                    case)
  assert float(loss1) > 0
  assert np.abs(g_tower1.numpy()).max() > 0  # the student moves
  assert g_tr1 is None  # the teacher's gradient is stopped
  # gamma = 0 in the full objective: same loss and gradients as no KD term.
  full0, grads0 = _grads(LTTTDTask(gamma=0.0), case)
  q, i, tower, transformer, labels, mask, probability, ids = case
  no_kd = LTTTDTask(gamma=0.0)
  terms = _terms(no_kd, case)
  np.testing.assert_allclose(full0,
                             terms["retrieval_loss"] + terms["ranking_loss"],
                             rtol=1e-5)
  _, grads1 = _grads(LTTTDTask(gamma=1.0), case)
  assert grads0[0] is None  # towers' scores get no gradient without KD
  assert grads1[0] is not None


def test_a_teacher_ensemble_is_distilled_and_ranking_keeps_the_transformer():
  case = _case(3)
  q, i, tower, transformer, labels, mask, probability, ids = case
  teacher = transformer + np.random.default_rng(9).normal(
      size=transformer.shape).astype(np.float32)
  terms = {k: v.numpy() for k, v in LTTTDTask(temperature=1.5).terms(
      q, i, tower, transformer, labels, mask, probability, ids,
      teacher_scores=teacher).items()}
  np.testing.assert_allclose(terms["distillation_loss"],
                             np_kl(teacher, tower, mask, 1.5).mean(),
                             rtol=1e-4)
  np.testing.assert_allclose(
      terms["ranking_loss"],
      np_softmax_loss(np.where(mask, labels, -1.0), transformer), rtol=1e-4)


def test_reverse_term_pulls_only_the_transformer():
  _, (g_tower, g_tr) = _grads(
      LTTTDTask(alpha=0, beta=0, gamma=0, reverse_weight=1.0), _case(2))
  assert g_tower is None and np.abs(g_tr.numpy()).max() > 0


def test_each_term_is_its_own_metric():
  task = LTTTDTask(reverse_weight=0.5)
  case = _case()
  task(*case)
  names = {m.name: float(m.result()) for m in task.metrics}
  terms = _terms(task, case)
  for key in terms:
    np.testing.assert_allclose(names[key], terms[key], rtol=1e-5)


def test_config_round_trip():
  task = LTTTDTask(alpha=0.5, beta=2.0, gamma=3.0, temperature=4.0,
                   reverse_weight=0.1, ranking_loss="approx_ndcg",
                   retrieval_temperature=0.05, remove_accidental_hits=False)
  clone = LTTTDTask.from_config(task.get_config())
  assert clone.get_config() == task.get_config()
  case = _case(3)
  np.testing.assert_allclose(task(*case), clone(*case), rtol=1e-6)


@pytest.mark.parametrize("field,value,match", [
    ("alpha", -1.0, "alpha must be a finite number >= 0"),
    ("beta", -0.1, "beta must be a finite number >= 0"),
    ("gamma", -2.0, "gamma must be a finite number >= 0"),
    ("gamma", float("nan"), "gamma must be a finite number >= 0"),
    ("reverse_weight", -1.0, "reverse_weight must be a finite number >= 0"),
    ("temperature", 0.0, "temperature must be a finite number > 0"),
    ("temperature", -1.0, "temperature must be a finite number > 0"),
    ("temperature", float("inf"), "temperature must be a finite number > 0"),
    ("retrieval_temperature", 0.0,
     "retrieval_temperature must be a finite number > 0"),
    ("ranking_loss", "nope", "ranking_loss must be one of"),
])
def test_bad_arguments_name_the_field(field, value, match):
  with pytest.raises(ValueError, match=match):
    LTTTDTask(**{field: value})


def test_sampled_negatives_follow_the_mixture_log_q():
  # Reference: candidates = the B positives then S sampled items; each
  # logit corrected by log(B p_j + S q_j) (a constant shift apart), and a
  # sampled item equal to the row's positive removed as an accidental hit.
  q, i, tower, transformer, labels, mask, probability, ids = _case(1)
  rng = np.random.default_rng(5)
  s = 3
  sampled = {"embeddings": rng.normal(size=(s, D)).astype(np.float32),
             "ids": np.array([8, 40, 41], np.int64),  # 8: row 1's positive
             "probability": np.array([0.3, 0.1, 0.05], np.float32),
             "batch_probability": np.array([0.2, 0.0, 0.02], np.float32),
             "positive_probability": rng.uniform(0.01, 0.3, B).astype(
                 np.float32)}
  task = LTTTDTask(retrieval_temperature=0.5)
  got = task.terms(q, i, tower, transformer, labels, mask, probability, ids,
                   sampled_negatives=sampled)["retrieval_loss"].numpy()
  counts = np.concatenate([
      B * probability + s * sampled["positive_probability"],
      B * sampled["batch_probability"] + s * sampled["probability"]])
  all_items = np.concatenate([i, sampled["embeddings"]])
  all_ids = np.concatenate([ids, sampled["ids"]])
  logits = q @ all_items.T / 0.5 - np.log(counts)[None, :]
  hit = (ids[:, None] == all_ids[None, :]) & ~np.eye(B, B + s, dtype=bool)
  logits = np.where(hit, -1e30, logits)
  expected = -np.mean(np.diag(np_log_softmax(logits)))
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # Not the in-batch loss: the sampled items count.
  assert abs(expected - np_retrieval(q, i, probability, ids, 0.5)) > 1e-3
  with pytest.raises(ValueError, match="candidate_sampling_probability"):
    task.terms(q, i, tower, transformer, labels, mask, None, ids,
               sampled_negatives=sampled)
