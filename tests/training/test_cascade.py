import dataclasses

import numpy as np
import tensorflow as tf

from tests._references import SMALL_MODEL, SMALL_TRAIN
from tfrs_ltttd import evaluation, lists
from tfrs_ltttd.training import cascade


def test_stages_train_apart(small_data, monkeypatch):
  snapshots = []
  real_fit = cascade.loop.fit

  def recording_fit(model, *args, **kwargs):
    def weights():
      return {"towers": [w.numpy() for w in model.query_tower.weights
                         + model.item_tower.weights],
              "transformer": [w.numpy() for w in model.transformer.weights]}
    before = weights()
    history = real_fit(model, *args, **kwargs)
    snapshots.append((before, weights(), model.task.get_config(), history))
    return history

  monkeypatch.setattr(cascade.loop, "fit", recording_fit)
  tf.keras.utils.set_random_seed(5)
  model, history = cascade.train_cascade(small_data, SMALL_MODEL, SMALL_TRAIN,
                                          verbose=0)
  (_, after_l1, task_l1, h1), (before_l2, after_l2, task_l2, h2) = snapshots
  assert (task_l1["alpha"], task_l1["beta"], task_l1["gamma"]) == (1, 0, 0)
  assert (task_l2["alpha"], task_l2["beta"], task_l2["gamma"]) == (0, 1, 0)
  # L2 trains the transformer and leaves the towers exactly as L1 left them
  # (that L1 leaves the transformer alone is the next test's).
  assert any(not np.array_equal(a, b) for a, b in
             zip(after_l1["transformer"], after_l2["transformer"]))
  assert after_l1["towers"]
  for a, b in zip(after_l1["towers"], after_l2["towers"]):
    np.testing.assert_array_equal(a, b)
  assert h1["retrieval_loss"][-1] < h1["retrieval_loss"][0]
  assert h2["ranking_loss"][-1] < h2["ranking_loss"][0]
  assert history == {"l1": h1, "l2": h2}
  ours = evaluation.evaluate(model, small_data, k_retrieval=50)
  chance = evaluation.random_baseline(small_data, k_retrieval=50)
  assert ours["ndcg@10"] > 4 * chance["ndcg@10"]


def test_l1_leaves_the_transformer_untouched(small_data, monkeypatch):
  built = []
  real_fit = cascade.loop.fit

  def first_stage_only(model, *args, **kwargs):
    # Built on lists: L1's own stream has none (the towers score none).
    model(next(iter(lists.make_dataset(small_data, lists.build_lists(
        small_data, 8, history_length=SMALL_MODEL.history_length), 64))))
    before = [w.numpy() for w in model.transformer.weights]
    history = real_fit(model, *args, **kwargs)
    built.append((before, [w.numpy() for w in model.transformer.weights]))
    return history

  monkeypatch.setattr(cascade.loop, "fit", first_stage_only)
  cascade.train_cascade(small_data, SMALL_MODEL, SMALL_TRAIN,
                                          verbose=0)
  before, after = built[0]
  for a, b in zip(before, after):
    np.testing.assert_array_equal(a, b)


def test_the_reranker_stage_trains_its_own_epochs(small_data):
  config = dataclasses.replace(SMALL_TRAIN, epochs=1, rerank_epochs=2)
  _, history = cascade.train_cascade(small_data, SMALL_MODEL, config,
                                     verbose=0)
  assert len(history["l1"]["retrieval_loss"]) == 1
  assert len(history["l2"]["ranking_loss"]) == 2
  # 0: as many as the towers.
  _, history = cascade.train_cascade(small_data, SMALL_MODEL, dataclasses.replace(
      config, rerank_epochs=0), verbose=0)
  assert len(history["l2"]["ranking_loss"]) == 1
