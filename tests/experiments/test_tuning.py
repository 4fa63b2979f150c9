import numpy as np
import pytest

from tests._references import assert_never_saw_test
from tfrs_ltttd import ModelConfig, TrainConfig, tuning
from tfrs_ltttd.data import synthetic
from tfrs_ltttd.evaluation import protocol

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
  space = tuning.SearchSpace(max_epochs=3, min_epochs=1,
                             list_holdout_fractions=(0.0, 0.3), gammas=(0.5,))
  model_config, train_config, record = tuning.choose_settings(
      data, SMALL, TRAIN, space)
  # Every score came from data without a single test interaction.
  assert_never_saw_test(seen, data)
  # The choice is the best score seen, and the configs carry it.
  chosen = record["chosen"]
  assert set(record["epochs_curves"]) == {"0", "0.3"}
  assert all(len(rows) == 3 for rows in record["epochs_curves"].values())
  assert [r["gamma"] for r in record["gamma"]] == [0.0, 0.5]
  best_gamma = max(record["gamma"], key=lambda r: r["quality"])["gamma"]
  assert chosen["gamma"] == best_gamma == model_config.gamma
  assert train_config.epochs == chosen["epochs"]
  assert train_config.list_holdout_fraction == chosen["list_holdout_fraction"]
  assert train_config.distillation_warmup_epochs == (
      chosen["epochs"] // 2 if best_gamma else 0)
  for row in record["gamma"]:
    np.testing.assert_allclose(row["quality"], np.sqrt(
        row["recall@90"] * row["ndcg@10"]))


def test_bad_search_space_is_named():
  with pytest.raises(ValueError, match="min_epochs"):
    tuning.SearchSpace(max_epochs=2, min_epochs=3)
