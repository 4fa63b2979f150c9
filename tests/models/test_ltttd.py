import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tests._references import (SMALL_MODEL, SMALL_TRAIN, count_ease_fits,
                               np_kl)
from tfrs_ltttd._memo import LastAnswers
from tfrs_ltttd import (LTTTDModel, ModelConfig, TrainConfig, evaluation,
                        lists, training)
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.evaluation import baselines
from tfrs_ltttd.layers import top_neighbours
from tfrs_ltttd.models import ltttd as ltttd_module

def _fixed_batch(data):
  built = lists.build_lists(data, 12, num_positives=3, seed=99,
                            history_length=SMALL_MODEL.history_length)
  return next(iter(lists.make_dataset(data, built, 512, shuffle=False)))


def _terms(model, batch):
  out = model.score_lists(batch["query"], batch["candidates"], batch["mask"])
  positives = model.item_tower(batch["item"])
  return {k: float(v) for k, v in model.task.terms(
      out["query"], positives, out["tower_scores"], out["scores"],
      batch["labels"], batch["mask"], batch["item_probability"],
      batch["item"]["item_id"], compute_metrics=False).items()}


@pytest.fixture(scope="module")
def trained(small_data):
  tf.keras.utils.set_random_seed(7)
  model = LTTTDModel.from_data(small_data, SMALL_MODEL)
  batch = _fixed_batch(small_data)
  before = _terms(model, batch)
  history = training.fit(model, small_data, SMALL_TRAIN, verbose=0)
  return model, history, before, _terms(model, batch)


def test_fit_logs_every_term_and_lowers_the_losses(trained):
  _, history, before, after = trained
  for key in ("retrieval_loss", "ranking_loss", "distillation_loss", "loss",
              "regularization_loss", "total_loss"):
    assert len(history[key]) == SMALL_TRAIN.epochs, key
  for key in ("retrieval_loss", "ranking_loss"):
    assert after[key] < 0.9 * before[key], (key, before, after)
    assert history[key][-1] < history[key][0], key


def test_distillation_pulls_the_towers_toward_a_fixed_teacher(small_data,
                                                              trained):
  """Only the KD term, teacher frozen: the towers' list distribution moves to
  the transformer's, and the teacher does not move."""
  teacher = trained[0]
  tf.keras.utils.set_random_seed(3)
  student = LTTTDModel.from_data(small_data, ModelConfig(
      **{**SMALL_MODEL.__dict__, "alpha": 0.0, "beta": 0.0, "gamma": 1.0}))
  batch = _fixed_batch(small_data)
  student(batch)  # build, then take the trained transformer's weights
  student.transformer.set_weights(teacher.transformer.get_weights())
  student.transformer.trainable = False
  frozen = [w.numpy() for w in student.transformer.weights]
  before = _terms(student, batch)["distillation_loss"]
  training.fit(student, small_data, TrainConfig(**{**SMALL_TRAIN.__dict__,
                                                   "epochs": 2}), verbose=0)
  after = _terms(student, batch)["distillation_loss"]
  assert after < 0.5 * before, (before, after)
  for w, v in zip(frozen, student.transformer.weights):
    np.testing.assert_array_equal(w, v.numpy())


def test_fit_lifts_recall_and_ndcg_well_above_random(small_data, trained):
  model = trained[0]
  ours = evaluation.evaluate(model, small_data, k_retrieval=50)
  chance = evaluation.random_baseline(small_data, k_retrieval=50)
  assert ours["recall@50"] > 1.8 * chance["recall@50"]
  assert ours["ndcg@10"] > 4 * chance["ndcg@10"]
  assert ours["mrr"] > 3 * chance["mrr"]


def test_weights_round_trip_and_keras_callbacks(small_data, trained, tmp_path):
  model = trained[0]
  batch = _fixed_batch(small_data)
  inputs = {"query": batch["query"], "candidates": batch["candidates"],
            "mask": batch["mask"]}
  path = str(tmp_path / "weights" / "ckpt")
  model.save_weights(path)
  clone = LTTTDModel.from_data(small_data, SMALL_MODEL)
  clone(inputs)
  clone.load_weights(path).assert_existing_objects_matched()
  np.testing.assert_allclose(clone(inputs), model(inputs), atol=1e-5)

  # Progress bar, TensorBoard and ModelCheckpoint in the same fit.
  config = TrainConfig(**{**SMALL_TRAIN.__dict__, "epochs": 1})
  logs, ckpt = tmp_path / "tb", tmp_path / "ckpt" / "epoch{epoch}"
  training.fit(clone, small_data, config, verbose=1, callbacks=[
      tf.keras.callbacks.TensorBoard(str(logs)),
      tf.keras.callbacks.ModelCheckpoint(str(ckpt), save_weights_only=True)])
  assert list(logs.rglob("events.out.tfevents.*"))
  assert (tmp_path / "ckpt" / "epoch1.index").exists()


def test_evaluate_reports_the_terms(small_data, trained):
  model = trained[0]
  built = lists.build_lists(small_data, 12, num_positives=3, seed=5,
                            history_length=SMALL_MODEL.history_length)
  result = model.evaluate(lists.make_dataset(small_data, built, 128),
                          return_dict=True, verbose=0)
  assert {"retrieval_loss", "ranking_loss", "distillation_loss",
          "total_loss"} <= set(result)


def test_bad_input_names_the_field(small_data, trained):
  model = trained[0]
  batch = dict(_fixed_batch(small_data))
  del batch["labels"]
  with pytest.raises(ValueError, match=r"missing \['labels'\]"):
    model.compute_loss(batch)
  with pytest.raises(ValueError, match="missing 'candidates'"):
    model({"query": batch["query"]})
  query = {k: v for k, v in batch["query"].items() if k != "user_age"}
  with pytest.raises(ValueError, match=r"\['user_age'\] missing"):
    model({"query": query, "candidates": batch["candidates"]})
  towers = LTTTDModel.from_data(small_data, SMALL_MODEL)
  wide = LTTTDModel.from_data(small_data, ModelConfig(output_dim=8,
                                                      history_length=0))
  with pytest.raises(ValueError, match="output_dim mismatch"):
    LTTTDModel(towers.query_tower, wide.item_tower)


@pytest.mark.parametrize("field,value", [
    ("gamma", -1.0), ("temperature", 0.0), ("output_dim", 0)])
def test_bad_model_config_names_the_field(field, value):
  with pytest.raises(ValueError, match=f"ModelConfig.{field}"):
    ModelConfig(**{field: value})


def test_bad_train_config_names_the_field():
  with pytest.raises(ValueError, match="TrainConfig.list_size"):
    TrainConfig(list_size=8, num_positives=4, num_hard_negatives=4)
  with pytest.raises(ValueError, match="TrainConfig.num_in_batch_negatives"):
    TrainConfig(list_batch_size=4, num_in_batch_negatives=4)


def test_distillation_warmup_holds_the_weight_at_zero(small_data):
  seen = []

  class Spy(tf.keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
      seen.append(float(self.model.task.distillation_weight.numpy()))

  model = LTTTDModel.from_data(small_data,
                               ModelConfig(**{**SMALL_MODEL.__dict__, "gamma": 2.0}))
  config = TrainConfig(**{**SMALL_TRAIN.__dict__, "epochs": 3,
                          "distillation_warmup_epochs": 2})
  training.fit(model, small_data, config, verbose=0, callbacks=[Spy()])
  assert seen == [0.0, 0.0, 2.0]
  assert float(model.task.distillation_weight.numpy()) == 2.0


def test_list_positive_share_matches_a_plain_reference(small_data, trained):
  from tfrs_ltttd.data import history as history_lib  # pylint: disable=g-import-not-at-top
  from tfrs_ltttd.retrieval import encode_catalogue  # pylint: disable=g-import-not-at-top

  model, k = trained[0], 20
  got = evaluation.list_positive_share(model, small_data, k)
  train = small_data.train
  rows, labels = history_lib.example_histories(train, SMALL_MODEL.history_length)
  items, _ = encode_catalogue(model.item_tower, small_data.items)
  positives = np.flatnonzero(train["label"] > 0)
  query = {n: v[train["user"][positives]]
           for n, v in small_data.users.items()}
  query.update(history_lib.features(small_data.items, "item_id",
                                    rows[positives], labels[positives]))
  all_scores = model.query_tower(query).numpy() @ items.T
  hits = total = 0
  for j, scores in zip(positives, all_scores):
    u, t = train["user"][j], train["timestamp"][j]
    earlier = train["item"][(train["user"] == u) & (train["timestamp"] < t)]
    scores[earlier] = -np.inf
    hits += int((scores > scores[train["item"][j]]).sum() < k)
    total += 1
  assert got["train_lists"] == pytest.approx(hits / total)
  test = evaluation.evaluate(model, small_data, k_retrieval=k)
  assert got["test"] == pytest.approx(1 - test[f"irretrievable@{k}"])


def test_history_holds_epoch_means_of_the_total_loss(trained):
  # The logged terms are epoch means; so must the total be: the weighted
  # sum of the terms' epoch means (a last-step value would not match).
  model, history, _, _ = trained
  task = model.task
  for epoch in range(SMALL_TRAIN.distillation_warmup_epochs, SMALL_TRAIN.epochs):
    weighted = (task.alpha * history["retrieval_loss"][epoch]
                + task.beta * history["ranking_loss"][epoch]
                + task.gamma * history["distillation_loss"][epoch])
    np.testing.assert_allclose(history["loss"][epoch], weighted, rtol=1e-5)
    np.testing.assert_allclose(history["total_loss"][epoch],
                               history["loss"][epoch]
                               + history["regularization_loss"][epoch],
                               rtol=1e-6)


def test_the_served_correction_weight_is_scored_saved_and_never_trained(
    small_data, trained, tmp_path):
  model = trained[0]
  weights = (0.0, 0.5, 1.0)
  full = evaluation.evaluate(model, small_data, k_retrieval=50,
                             correction_weights=weights)
  by_weight = full["ndcg@10_by_correction_weight"]
  assert sorted(by_weight) == ["0", "0.5", "1"]
  assert by_weight["1"] == pytest.approx(full["ndcg@10"])
  assert by_weight["0"] == pytest.approx(full["ndcg@10_two_tower"])
  assert full["ndcg@10"] != pytest.approx(full["ndcg@10_two_tower"])
  # Without an item-item term, the list without the correction is the
  # towers' order: both lifts are the same.
  assert full["ndcg@10_without_correction"] == pytest.approx(by_weight["0"])
  gains = evaluation.lifts(full)
  assert gains["served"] == pytest.approx(
      full["ndcg@10"] / full["ndcg@10_two_tower"] - 1)
  assert gains["reranker"] == pytest.approx(gains["served"])
  batch = _fixed_batch(small_data)
  loss = float(model.compute_loss(batch))
  path = str(tmp_path / "weights")
  try:
    model.transformer.set_correction_weight(0.5)
    served = evaluation.evaluate(model, small_data, k_retrieval=50)
    assert served["ndcg@10"] == pytest.approx(by_weight["0.5"])
    # The correction is fitted at weight 1, whatever weight is served.
    assert float(model.compute_loss(batch)) == pytest.approx(loss)
    model.save_weights(path)
  finally:
    model.transformer.set_correction_weight(1.0)
  clone = LTTTDModel.from_data(small_data, SMALL_MODEL)
  clone(batch)
  clone.load_weights(path).assert_existing_objects_matched()
  assert float(clone.transformer.correction_weight.numpy()) == 0.5


def test_the_towers_order_is_scored_without_running_the_reranker(
    small_data, trained, monkeypatch):
  model = trained[0]
  both = evaluation.evaluate(model, small_data, k_retrieval=50)
  monkeypatch.setattr(evaluation.protocol, "score_parts", None)  # not run
  towers = evaluation.evaluate(model, small_data, k_retrieval=50,
                               with_reranker=False)
  assert towers == {k: v for k, v in both.items()
                    if k not in ("ndcg@10", "mrr",
                                 "ndcg@10_without_correction")}


def test_the_item_item_term_joins_the_served_score_only(small_data):
  config = dataclasses.replace(SMALL_MODEL, item_item_neighbours=6,
                               item_item_l2=10.0)
  model = LTTTDModel.from_data(small_data, config)
  rows, values = top_neighbours(baselines.EASE(small_data, 10.0).b, 6)
  np.testing.assert_array_equal(model.item_item.neighbours.numpy(), rows)
  np.testing.assert_allclose(model.item_item.neighbour_weights.numpy(),
                             values)
  batch = _fixed_batch(small_data)
  assert float(model.item_item.served_weight.numpy()) == 0.0
  plain = model.score_lists(batch["query"], batch["candidates"],
                            batch["mask"], item_item_weight=0.0)
  assert "item_item" not in plain  # weight 0: not computed
  np.testing.assert_allclose(model.score_lists(
      batch["query"], batch["candidates"], batch["mask"])["scores"],
                             plain["scores"], atol=1e-6)
  loss = float(model.compute_loss(batch))
  model.item_item.set_served_weight(0.5)
  served = model.score_lists(batch["query"], batch["candidates"],
                             batch["mask"])
  # Reference: the history's summed table weights of each candidate,
  # standardised over the list and scaled to the spread of the towers'.
  dense = np.zeros((small_data.num_items,) * 2, np.float32)
  np.put_along_axis(dense, rows, values, axis=1)
  row_of = {int(i): r for r, i in enumerate(small_data.items["item_id"])}
  history = batch["query"]["history_item_ids"].numpy()
  ids = batch["candidates"]["item_id"].numpy()
  mask, towers = batch["mask"].numpy(), served["tower_scores"].numpy()
  want = plain["scores"].numpy().copy()
  for b in range(len(ids)):
    seen = [row_of[int(h)] for h in history[b] if h >= 0]
    raw = np.array([dense[seen, row_of[int(j)]].sum() for j in ids[b]])
    real = mask[b]
    spread = raw[real].std()  # 0 for an empty history: no term
    z = (raw - raw[real].mean()) / spread if spread > 0 else 0 * raw
    want[b, real] += 0.5 * towers[b, real].std() * z[real]
  np.testing.assert_allclose(served["scores"], want, rtol=1e-4, atol=1e-4)
  # Training never sees the term, whatever weight is served.
  assert float(model.compute_loss(batch)) == pytest.approx(loss)
  full = evaluation.evaluate(model, small_data, k_retrieval=50,
                             item_item_weights=(0.0, 0.5),
                             correction_weights=(0.0,))
  assert full["ndcg@10_by_item_item_weight"]["0.5"] == pytest.approx(
      full["ndcg@10"])
  # The re-ranker's own part: against the towers plus the same term.
  assert full["ndcg@10_without_correction"] == pytest.approx(
      full["ndcg@10_by_correction_weight"]["0"])
  assert evaluation.lifts(full)["reranker"] == pytest.approx(
      full["ndcg@10"] / full["ndcg@10_without_correction"] - 1)
  model.item_item.set_served_weight(0.0)
  at_zero = evaluation.evaluate(model, small_data, k_retrieval=50,
                                correction_weights=(0.0,))
  assert at_zero["ndcg@10"] == pytest.approx(
      full["ndcg@10_by_item_item_weight"]["0"])
  # Each item-item weight's final list, from the same pass, is the list
  # served at that weight.
  for weight, served_at in (("0", at_zero), ("0.5", full)):
    row = full["by_item_item_weight"][weight]
    for key in ("ndcg@10", "mrr", "ndcg@10_without_correction",
                "ndcg@10_by_correction_weight"):
      assert row[key] == pytest.approx(served_at[key]), (weight, key)


def test_set_served_weights_sets_both_terms_and_names_a_missing_table(
    small_data):
  config = dataclasses.replace(SMALL_MODEL, item_item_neighbours=6,
                               item_item_l2=10.0)
  model = LTTTDModel.from_data(small_data, config)
  batch = _fixed_batch(small_data)
  model(batch)
  model.set_served_weights(0.25, 0.75)
  assert float(model.transformer.correction_weight.numpy()) == 0.25
  assert float(model.item_item.served_weight.numpy()) == 0.75
  model.set_served_weights(1.0)  # the item-item term off by default
  assert float(model.item_item.served_weight.numpy()) == 0.0
  with pytest.raises(ValueError, match="correction_weight must be"):
    model.set_served_weights(-1.0)
  plain = LTTTDModel.from_data(small_data, SMALL_MODEL)
  plain(batch)
  plain.set_served_weights(0.5, 0.0)
  assert float(plain.transformer.correction_weight.numpy()) == 0.5
  with pytest.raises(ValueError, match="item_item_weight 0.5: the model has "
                     "no item-item table"):
    plain.set_served_weights(1.0, 0.5)
  assert float(plain.transformer.correction_weight.numpy()) == 0.5


def test_a_teacher_ensemble_adds_the_item_item_term_to_distillation_only(
    small_data):
  config = dataclasses.replace(SMALL_MODEL, item_item_neighbours=6,
                               item_item_l2=10.0, teacher_item_item_weight=1.5)
  model = LTTTDModel.from_data(small_data, config)
  batch = _fixed_batch(small_data)
  out = model.score_lists(batch["query"], batch["candidates"], batch["mask"],
                          correction_weight=1.0, item_item_weight=1.5)
  args = (out["query"], model.item_tower(batch["item"]), out["tower_scores"],
          out["reranker"], batch["labels"], batch["mask"],
          batch["item_probability"], batch["item"]["item_id"])
  teacher = out["reranker"] + 1.5 * out["item_item"]
  ensemble = {k: float(v) for k, v in model.task.terms(
      *args, compute_metrics=False, teacher_scores=teacher).items()}
  alone = {k: float(v) for k, v in model.task.terms(
      *args, compute_metrics=False).items()}
  assert ensemble["distillation_loss"] != pytest.approx(
      alone["distillation_loss"])
  assert ensemble["ranking_loss"] == pytest.approx(alone["ranking_loss"])
  task = model.task
  assert float(model.compute_loss(batch)) == pytest.approx(
      task.alpha * ensemble["retrieval_loss"]
      + task.beta * ensemble["ranking_loss"]
      + task.gamma * ensemble["distillation_loss"], rel=1e-4)
  with pytest.raises(ValueError, match="set item_item_neighbours > 0"):
    dataclasses.replace(SMALL_MODEL, teacher_item_item_weight=1.0)


def test_wide_distillation_pulls_the_towers_over_the_in_batch_items(
    small_data):
  config = dataclasses.replace(SMALL_MODEL, item_item_neighbours=6,
                               item_item_l2=10.0, teacher_item_item_weight=2.0,
                               wide_distillation=True)
  model = LTTTDModel.from_data(small_data, config)
  task = model.task
  batch = _fixed_batch(small_data)
  out = model.score_lists(batch["query"], batch["candidates"], batch["mask"],
                          correction_weight=1.0, item_item_weight=2.0)
  positives = model.item_tower(batch["item"])
  teacher, student, mask = model._wide_scores(
      batch["query"], out["query"], positives, batch["item"]["item_id"])
  np.testing.assert_allclose(
      student, out["query"].numpy() @ positives.numpy().T
      / task.retrieval_temperature, rtol=1e-4, atol=1e-5)
  # The teacher adds the item-item term, at twice the towers' spread.
  extra = (teacher - student).numpy()
  moved = extra.std(axis=1) > 0
  assert moved.any()
  np.testing.assert_allclose(extra[moved].std(axis=1),
                             2.0 * student.numpy()[moved].std(axis=1),
                             rtol=1e-3)
  terms = {k: float(v) for k, v in task.terms(
      out["query"], positives, out["tower_scores"], out["reranker"],
      batch["labels"], batch["mask"], batch["item_probability"],
      batch["item"]["item_id"], compute_metrics=False,
      teacher_scores=out["scores"],
      wide_scores=(teacher, student, mask)).items()}
  assert terms["wide_distillation_loss"] == pytest.approx(
      np_kl(teacher.numpy(), student.numpy(), mask.numpy(),
            task.temperature).mean(), rel=1e-4)
  assert float(model.compute_loss(batch)) == pytest.approx(
      task.alpha * terms["retrieval_loss"] + task.beta * terms["ranking_loss"]
      + task.gamma * (terms["distillation_loss"]
                      + terms["wide_distillation_loss"]), rel=1e-4)
  with pytest.raises(ValueError, match="set teacher_item_item_weight > 0"):
    dataclasses.replace(config, teacher_item_item_weight=0.0)


def test_models_built_on_the_same_data_share_one_item_item_fit(
    small_data, monkeypatch):
  fits = count_ease_fits(monkeypatch, ltttd_module)
  monkeypatch.setattr(ltttd_module, "_TABLES", LastAnswers())
  config = dataclasses.replace(SMALL_MODEL, item_item_neighbours=4,
                               item_item_l2=7.0)
  first = LTTTDModel.from_data(small_data, config)
  again = LTTTDModel.from_data(small_data, config)
  LTTTDModel.from_data(small_data, dataclasses.replace(config,
                                                       item_item_l2=8.0))
  other = synthetic.generate(synthetic.SyntheticConfig(
      num_users=300, num_items=200, interactions_per_user=12, seed=4))
  LTTTDModel.from_data(other, config)
  assert fits == [7.0, 8.0, 7.0]
  np.testing.assert_array_equal(first.item_item.neighbours.numpy(),
                                again.item_item.neighbours.numpy())
