"""Either system by name (`tfrs_ltttd.training.train_system`)."""

import dataclasses

import numpy as np
import pytest

from tfrs_ltttd import ModelConfig, TrainConfig
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.training import SYSTEMS, train_system

SMALL = ModelConfig(output_dim=8, embedding_dim=8, hidden_units=(16,),
                    num_layers=1, num_heads=2, width=8)
TRAIN = TrainConfig(epochs=1, batch_size=64, list_batch_size=32, list_size=8,
                    num_positives=2, num_in_batch_negatives=2,
                    num_hard_negatives=2, hard_negative_depth=20,
                    hard_negative_skip=2)


def test_an_unknown_system_is_named():
  with pytest.raises(ValueError, match="one of .*'ltttd'.*'two-tower'"):
    train_system("two-tower", None)


def test_each_system_trains_as_its_own_entry_point_does():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=60, num_items=50, interactions_per_user=6, seed=2))
  histories = {}
  scores = {}
  for system in SYSTEMS:
    for _ in range(2):  # seeded: the same system twice is the same model
      model, history = train_system(system, data, SMALL, TRAIN)
      scores.setdefault(system, []).append(model.item_tower(
          {k: v[:5] for k, v in data.items.items()}).numpy())
    histories[system] = history
  # LT-TTD trains both stages in each step; the cascade one after the other.
  assert "total_loss" in histories["ltttd"]
  assert {"l1_total_loss", "l2_total_loss"} <= set(histories["cascade"])
  for system in SYSTEMS:
    np.testing.assert_allclose(*scores[system], rtol=1e-5)


def test_ltttd_closes_with_its_reranker_alone_on_its_final_towers():
  data = synthetic.generate(synthetic.SyntheticConfig(
      num_users=60, num_items=50, interactions_per_user=6, seed=2))
  models = {}
  for closing in (0, 2):
    models[closing], history = train_system(
        "ltttd", data, SMALL, dataclasses.replace(TRAIN,
                                                  closing_epochs=closing))
  # Two closing epochs of the listwise loss alone, after the joint one.
  assert len(history["total_loss"]) == 1
  assert len(history["closing_ranking_loss"]) == 2
  # The towers are the joint run's, the re-ranker trained on.
  for closed, plain in [(models[2].query_tower, models[0].query_tower),
                        (models[2].item_tower, models[0].item_tower)]:
    assert closed.weights
    for a, b in zip(closed.get_weights(), plain.get_weights()):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert any(not np.allclose(a, b) for a, b in zip(
      models[2].transformer.get_weights(), models[0].transformer.get_weights()))
