import dataclasses
import types

import numpy as np
import optuna
import pytest
import tensorflow as tf

from tests._references import assert_never_saw_test
from tfrs_ltttd import ModelConfig, TrainConfig, tuning
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.data.interactions import validation_split
from tfrs_ltttd.evaluation import baselines, protocol

SMALL = ModelConfig(output_dim=8, embedding_dim=8, hidden_units=(16,),
                    num_layers=1, num_heads=2, width=8, history_length=4)
TRAIN = TrainConfig(batch_size=64, list_batch_size=32, list_size=8,
                    num_positives=2, num_in_batch_negatives=2,
                    num_hard_negatives=2, hard_negative_depth=20,
                    hard_negative_skip=2)


@pytest.mark.slow
def test_settings_are_chosen_on_validation_only(monkeypatch):
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=120, num_items=90, interactions_per_user=10, seed=6))
  seen = []
  real = protocol.evaluate

  def spy(model, d, *args, **kwargs):
    seen.append(d)
    return real(model, d, *args, **kwargs)

  monkeypatch.setattr(protocol, "evaluate", spy)
  space = tuning.SearchSpace(max_epochs=3, min_epochs=1, trials=3,
                             history_lengths=(4, 500), output_dims=(8,),
                             sampled_negative_shares=(0.0, 0.5),
                             list_holdout_fractions=(0.0, 0.3), gammas=(0.5,),
                             correction_weights=(1.0, 0.0, 0.5, 0.5))
  lines = []
  model_config, train_config, record = tuning.choose_settings(
      data, SMALL, TRAIN, space, log=lines.append)
  # Every score came from data without a single test interaction.
  assert_never_saw_test(seen, data)
  # Towers: three of the four settings, each once, the given one first,
  # scored on the towers' own order; one line each with the time left.
  tried = [t["params"] for t in record["trials"]]
  assert len({tuple(sorted(p.items())) for p in tried}) == len(tried) == 3
  assert tried[0] == {"history_length": 4, "output_dim": 8,
                      "sampled_negative_share": 0.0}
  assert sum(line.startswith("  towers") and "left" in line
             for line in lines) == 3
  for trial in record["trials"]:
    assert trial["pruned"] == (len(trial["curve"]) < 3)  # pruned = cut short
    for row in trial["curve"]:
      np.testing.assert_allclose(row["quality"], np.sqrt(
          row["recall@90"] * row["ndcg@10_two_tower"]))
  winner = max(record["trials"], key=lambda t: t["quality"])
  # "500" reads the whole history: H is capped at the longest one.
  longest = np.bincount(validation_split(data, 0.1).train["user"]).max()
  assert model_config.history_length == min(
      winner["params"]["history_length"], longest)
  assert train_config.num_sampled_negatives == round(
      winner["params"]["sampled_negative_share"] * TRAIN.batch_size)
  # Lists and epochs: the best (fraction, epoch) of the whole system.
  chosen = record["chosen"]
  assert set(record["epochs_curves"]) == {"0", "0.3"}
  best = max(((row["quality"], f, row["epoch"])
              for f, rows in record["epochs_curves"].items() for row in rows))
  assert (chosen["list_holdout_fraction"], chosen["epochs"]) == (
      float(best[1]), best[2])
  assert train_config.epochs == chosen["epochs"]
  assert train_config.list_holdout_fraction == chosen["list_holdout_fraction"]
  # Distillation.
  assert [r["gamma"] for r in record["gamma"]] == [0.0, 0.5]
  best_gamma = max(record["gamma"], key=lambda r: r["quality"])["gamma"]
  assert chosen["gamma"] == best_gamma == model_config.gamma
  assert train_config.distillation_warmup_epochs == (
      chosen["epochs"] // 2 if best_gamma else 0)
  # A whole system is scored at its best correction weight (the smallest
  # of ties), and each system serves the weight of its chosen run.
  for row in record["gamma"]:
    by_weight = row["ndcg@10_by_correction_weight"]
    assert list(by_weight) == ["0", "0.5", "1"]
    assert by_weight[f"{row['correction_weight']:g}"] == max(
        by_weight.values()) == row["ndcg@10_served"]
    assert by_weight["0"] == pytest.approx(row["ndcg@10_two_tower"])
    assert by_weight["1"] == pytest.approx(row["ndcg@10"])
    np.testing.assert_allclose(row["quality"], np.sqrt(
        row["recall@90"] * row["ndcg@10_served"]))
  served = record["correction_weights"]
  assert set(served) == set(chosen["correction_weight"]) == {"ltttd",
                                                             "cascade"}
  chosen_row = next(r for r in record["gamma"] if r["gamma"] == best_gamma)
  for system, weight in chosen["correction_weight"].items():
    curve = served[system]["ndcg@10_by_correction_weight"]
    assert curve[f"{weight:g}"] == max(curve.values())
    assert any(line.startswith(f"  {system}: validation NDCG@10 by "
                               "correction weight") for line in lines)
  # Each system's re-ranker stage ran up to max_epochs and serves its best
  # epoch: the weights restored score what that epoch scored. LT-TTD's
  # closing stage starts from its chosen run (epoch 0), trained again.
  for system, setting, first in [("cascade", "rerank_epochs", 1),
                                 ("ltttd", "closing_epochs", 0)]:
    curve = record[setting]
    assert [row["epoch"] for row in curve] == list(range(first, 4))
    best_epoch = max(curve, key=lambda row: row["quality"])
    assert chosen[setting] == getattr(train_config, setting) == best_epoch[
        "epoch"]
    assert record["systems"][system] == pytest.approx(best_epoch["quality"],
                                                      abs=1e-6)
  assert record["closing_epochs"][0]["quality"] == pytest.approx(
      chosen_row["quality"], abs=1e-4)
  for start in ("  the cascade: re-ranker stage", "  LT-TTD: closing stage"):
    assert sum(line.startswith(start) for line in lines) == 1
  # The system served: the cascade only where it beat LT-TTD.
  assert chosen["system"] == ("cascade" if record["systems"]["cascade"]
                              > record["systems"]["ltttd"] else "ltttd")
  assert sum(line.startswith("  system served: ") for line in lines) == 1
  # train_chosen trains that system and serves its weights.
  trained = []
  real = tuning.train_system

  def spy(system, *args, **kwargs):
    trained.append(system)
    return real(system, *args, **kwargs)

  monkeypatch.setattr(tuning, "train_system", spy)
  model = tuning.train_chosen(data, model_config, train_config, record)
  assert trained == [chosen["system"]]
  assert float(model.transformer.correction_weight.numpy()) == chosen[
      "correction_weight"][chosen["system"]]


@pytest.mark.parametrize("from_start", [False, True])
def test_the_rerankers_stage_serves_its_best_epoch(monkeypatch, from_start):
  # Validation scores by epoch of the re-ranker's stage (an epoch that
  # trains the towers is skipped): the best, the first of ties, is epoch 2.
  # Scored from the start (LT-TTD's closing stage), epoch 0 is the first.
  qualities = iter(([0.3] if from_start else []) + [0.1, 0.3, 0.3, 0.2])
  monkeypatch.setattr(tuning, "scored",
                      lambda *args: {"quality": next(qualities)})
  transformer = tf.keras.layers.Dense(2)
  transformer.build((None, 3))
  model = types.SimpleNamespace(
      query_tower=types.SimpleNamespace(trainable=True),
      transformer=transformer)
  stopping = tuning._RerankerEpochs(None, 10, (1.0,), from_start=from_start)
  stopping.set_model(model)
  with pytest.raises(ValueError, match="no re-ranker epoch"):
    stopping.restore()
  stopping.on_epoch_end(0)  # an epoch of the towers
  model.query_tower.trainable = False
  transformer.set_weights([np.full(w.shape, 0.0)
                           for w in transformer.get_weights()])
  stopping.on_train_begin()
  for epoch in range(4):
    transformer.set_weights([np.full(w.shape, epoch + 1.0)
                             for w in transformer.get_weights()])
    stopping.on_epoch_end(epoch)
  assert [row["epoch"] for row in stopping.rows] == (
      [0] * from_start + [1, 2, 3, 4])
  best = 0 if from_start else 2
  assert stopping.restore() == best
  for weight in transformer.get_weights():
    np.testing.assert_array_equal(weight, float(best))


def test_train_chosen_needs_the_record_of_a_search():
  with pytest.raises(ValueError, match="no chosen system"):
    tuning.train_chosen(None, SMALL, TRAIN, {"chosen": {"epochs": 3}})


def test_the_pruner_stops_a_trial_behind_the_best_at_its_rung():
  # Optuna's successive halving, as choose_settings sets it up: with
  # min_resource 1 and reduction factor 2, a second trial worse than the
  # first at epoch 1 is pruned there; a better one goes on.
  study = optuna.create_study(
      direction="maximize", pruner=optuna.pruners.SuccessiveHalvingPruner(
          min_resource=1, reduction_factor=2))
  verdicts = []
  for first_epoch_score in (0.5, 0.3, 0.7):
    trial = study.ask()
    trial.report(first_epoch_score, 1)
    verdicts.append(trial.should_prune())
    study.tell(trial, first_epoch_score)
  assert verdicts == [False, True, False]


def test_bad_search_space_is_named():
  with pytest.raises(ValueError, match="min_epochs"):
    tuning.SearchSpace(max_epochs=2, min_epochs=3)


def test_an_empty_grid_is_named():
  with pytest.raises(ValueError, match="SearchSpace.output_dims is empty"):
    tuning.SearchSpace(output_dims=())


def test_the_default_item_item_table_fits_catalogues_eases_inverse_can():
  limit = tuning.ITEM_ITEM_MAX_ITEMS
  assert tuning.default_item_item_neighbours(limit, 20) == \
      tuning.ITEM_ITEM_NEIGHBOURS > 0
  assert tuning.default_item_item_neighbours(limit + 1, 20) == 0
  # Without a history no candidate has anything to be scored from.
  assert tuning.default_item_item_neighbours(100, 0) == 0


@pytest.mark.slow
def test_an_item_item_table_gets_its_lambda_and_weights_on_validation():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=120, num_items=90, interactions_per_user=10, seed=6))
  space = tuning.SearchSpace(max_epochs=2, min_epochs=1, trials=1,
                             history_lengths=(4,), output_dims=(8,),
                             sampled_negative_shares=(0.0,),
                             list_holdout_fractions=(0.0,), gammas=(0.5,),
                             teacher_item_item_weights=(0.0, 1.0),
                             correction_weights=(0.0, 1.0),
                             item_item_weights=(0.0, 0.5, 2.0))
  lines = []
  config = dataclasses.replace(SMALL, item_item_neighbours=10)
  model_config, _, record = tuning.choose_settings(data, config, TRAIN, space,
                                                   log=lines.append)
  l2, _ = baselines.choose_ease_l2(data)
  assert model_config.item_item_l2 == record["chosen"]["item_item_l2"] == l2
  chosen = record["chosen"]["item_item_weight"]
  assert set(chosen) == set(record["item_item_weights"]) == {"ltttd",
                                                             "cascade"}
  for system, weight in chosen.items():
    curve = record["item_item_weights"][system]["ndcg@10_by_item_item_weight"]
    assert list(curve) == ["0", "0.5", "2"]
    assert curve[f"{weight:g}"] == max(curve.values())
    assert any(line.startswith(f"  {system}: validation NDCG@10 by "
                               "item-item weight") for line in lines)
  # Distillation: gamma 0 and each (gamma, teacher), every run scored as it
  # would be served, at its best item-item weight; the best run is LT-TTD's.
  tried = [(r["gamma"], r["teacher_item_item_weight"])
           for r in record["gamma"]]
  assert tried == [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0)]
  for row in record["gamma"]:
    curve = row["ndcg@10_by_item_item_weight"]
    assert curve[f"{row['item_item_weight']:g}"] == max(curve.values()) \
        == row["ndcg@10_served"]
  assert sum(line.startswith("  distillation, gamma") and "irretrievable@"
             in line for line in lines) == 3
  best = max(record["gamma"], key=lambda r: r["quality"])
  assert (record["chosen"]["gamma"], record["chosen"]["teacher_item_item_weight"]
          ) == (model_config.gamma, model_config.teacher_item_item_weight) == (
              best["gamma"], best["teacher_item_item_weight"])
  assert model_config.wide_distillation == (
      model_config.teacher_item_item_weight > 0)
  assert chosen["ltttd"] == best["item_item_weight"]
