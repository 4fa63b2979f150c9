"""LTTTDModel: two towers and a listwise transformer trained jointly."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrs_ltttd._memo import LastAnswers
from tfrs_ltttd.data.interactions import interaction_matrix
from tfrs_ltttd.layers.features import HISTORY_IDS, describe_features
from tfrs_ltttd.layers.item_item import (ItemItemScores, ease_weights,
                                         scaled_like, top_neighbours)
from tfrs_ltttd.layers.matches import HistoryMatches, item_attributes
from tfrs_ltttd.layers.towers import ItemTower, QueryTower
from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.layers.transformer import ListwiseTransformer
from tfrs_ltttd.tasks.ltttd import LTTTDTask

_TRAIN_KEYS = ("query", "item", "candidates", "labels", "mask")

# The item-item tables of the last few (data, lambda, N): every model built
# on the same data (a search's runs, both systems, a checkpoint's reload)
# reads the same table, and EASE's inverse is the slow part.
_TABLES = LastAnswers(size=4)


def item_item_table(data, l2: float, num_neighbours: int
                    ) -> Tuple[np.ndarray, np.ndarray]:
  """`top_neighbours(ease_weights(X, l2), num_neighbours)` of `data`'s train
  interactions `X`, computed once for the last few data sets and settings
  asked for."""
  key = (data.fingerprint()["sha256"], float(l2), int(num_neighbours))
  return _TABLES.get(key, lambda: top_neighbours(
      ease_weights(interaction_matrix(data), l2), num_neighbours))
_STEP_LOSSES = ("loss", "regularization_loss", "total_loss")


class LTTTDModel(tfrs.Model):
  """LT-TTD: retrieval towers and a listwise re-ranker in one model.

  `compute_loss` runs both stages on a batch from
  `tfrs_ltttd.lists.make_dataset`: the towers embed the queries, their
  positives (for the in-batch retrieval loss) and every candidate of each
  list; the transformer scores the lists from those embeddings, the residual
  side features and the two-tower scores; `LTTTDTask` combines the retrieval,
  listwise ranking and distillation losses in one optimisation step.

  By default the transformer reads the tower outputs through a stop-gradient
  (`ranking_gradient_to_towers=False`): the towers then learn from the
  retrieval loss and from distillation, the channel the paper names for
  moving ranking quality into retrieval, while the transformer learns from
  the ranking loss.

  `call` re-ranks given candidate lists: `{"query": features [B],
  "candidates": features [B, L], "mask": optional bool [B, L]}` -> `[B, L]`
  served scores, the towers' score plus the transformer's correction times
  `transformer.correction_weight` (see `ListwiseTransformer`).

  Args:
    query_tower: the `QueryTower`.
    item_tower: the `ItemTower`.
    transformer: the `ListwiseTransformer`; default constructor if None.
    task: the `LTTTDTask`; default weights if None.
    item_id_feature: the item id feature, used for accidental-hit removal.
    ranking_gradient_to_towers: let the ranking loss train the towers
      through the embeddings the transformer reads.
    item_item: item-item scores of the candidates from the user's history
      (`ItemItemScores`), added to the served score with its
      `served_weight`; None: none.
    teacher_item_item_weight: the distillation teacher is the transformer's
      scores plus this weight times the item-item term (needs `item_item`);
      0: the transformer alone.
    history_matches: what of the user's history shares each attribute with
      a candidate (`HistoryMatches`), read by the transformer beside the
      candidate's side features; None: not read.
    **kwargs: passed to `tfrs.Model`.

  Example:

  >>> from tfrs_ltttd import ModelConfig, lists
  >>> from tfrs_ltttd.data import synthetic
  >>> data = synthetic.generate(synthetic.SyntheticConfig(
  ...     num_users=40, num_items=60, interactions_per_user=6))
  >>> model = LTTTDModel.from_data(data, ModelConfig(output_dim=8, width=8,
  ...                                                history_length=5))
  >>> model.compile(optimizer="adam")
  >>> built = lists.build_lists(data, 6, history_length=5)
  >>> ds = lists.make_dataset(data, built, 32)
  >>> history = model.fit(ds, epochs=1, verbose=0)
  >>> sorted(history.history)[:3]
  ['distillation_loss', 'loss', 'ranking_loss']
  """

  def __init__(
      self,
      query_tower: QueryTower,
      item_tower: ItemTower,
      transformer: Optional[ListwiseTransformer] = None,
      task: Optional[LTTTDTask] = None,
      item_id_feature: str = "item_id",
      ranking_gradient_to_towers: bool = False,
      item_item: Optional[ItemItemScores] = None,
      teacher_item_item_weight: float = 0.0,
      history_matches: Optional[HistoryMatches] = None,
      **kwargs,
  ):
    super().__init__(**kwargs)
    if teacher_item_item_weight and item_item is None:
      raise ValueError("teacher_item_item_weight needs an item_item table.")
    if query_tower.output_dim != item_tower.output_dim:
      raise ValueError(
          f"output_dim mismatch: the query tower gives d="
          f"{query_tower.output_dim}, the item tower d="
          f"{item_tower.output_dim}; dot-product scores need them equal.")
    if item_id_feature not in item_tower.feature_names:
      raise ValueError(f"item_id_feature '{item_id_feature}' is not a "
                       f"feature of the item tower {item_tower.feature_names}.")
    self.query_tower = query_tower
    self.item_tower = item_tower
    self.transformer = transformer or ListwiseTransformer()
    self.task = task or LTTTDTask()
    self.item_id_feature = item_id_feature
    self.ranking_gradient_to_towers = ranking_gradient_to_towers
    self.item_item = item_item
    self.teacher_item_item_weight = float(teacher_item_item_weight)
    self.history_matches = history_matches

  @classmethod
  def from_data(cls, data, config: Optional[ModelConfig] = None
                ) -> "LTTTDModel":
    """Builds an untrained model whose tower vocabularies come from `data`.

    Args:
      data: a `tfrs_ltttd.data.Interactions`; categorical columns of its
        user and item tables become lookups, float columns standardised
        numeric features.
      config: architecture and objective; `ModelConfig()` if None.

    Returns:
      An untrained `LTTTDModel`.
    """
    config = config or ModelConfig()
    towers = {}
    for name, tower_cls, table, id_feature in [
        ("item_tower", ItemTower, data.items, data.item_id_feature),
        ("query_tower", QueryTower, data.users, data.query_id_feature)]:
      vocabularies, numeric = describe_features(table)
      history = {}
      if name == "query_tower" and config.history_length:
        max_label = float(np.max(data.train["label"], initial=0.0))
        history = dict(history_length=config.history_length,
                       history_item_tower=towers["item_tower"],
                       history_labels=int(round(max_label)) + 1)
      towers[name] = tower_cls(
          vocabularies, numeric, id_feature=id_feature,
          output_dim=config.output_dim, embedding_dim=config.embedding_dim,
          hidden_units=config.hidden_units, name=name, **history)
    transformer = ListwiseTransformer(
        num_layers=config.num_layers, num_heads=config.num_heads,
        width=config.width, dropout=config.dropout,
        use_history=bool(config.history_length))
    task = LTTTDTask(
        alpha=config.alpha, beta=config.beta, gamma=config.gamma,
        temperature=config.temperature, reverse_weight=config.reverse_weight,
        wide_distillation=config.wide_distillation,
        ranking_loss=config.ranking_loss,
        retrieval_temperature=config.retrieval_temperature)
    item_item = None
    if config.item_item_neighbours:
      item_item = ItemItemScores(data.items[data.item_id_feature],
                                 config.item_item_neighbours,
                                 name="item_item")
      item_item.set_table(*item_item_table(data, config.item_item_l2,
                                           config.item_item_neighbours))
    matches = None
    attributes = (item_attributes(data.items, data.item_id_feature)
                  if config.history_matches and config.history_length else {})
    if attributes:
      matches = HistoryMatches(
          data.items[data.item_id_feature],
          {name: (values.shape[1], size)
           for name, (values, size) in attributes.items()},
          name="history_matches")
      matches.set_tables({name: values
                          for name, (values, _) in attributes.items()})
    return cls(towers["query_tower"], towers["item_tower"], transformer, task,
               item_id_feature=data.item_id_feature,
               ranking_gradient_to_towers=config.ranking_gradient_to_towers,
               item_item=item_item,
               teacher_item_item_weight=config.teacher_item_item_weight,
               history_matches=matches)

  def set_served_weights(self, correction_weight: float,
                         item_item_weight: float = 0.0) -> None:
    """Sets what the served score adds to the towers' score: the
    re-ranker's correction times `correction_weight` (0: the towers'
    order) and, with an item-item table, its term times `item_item_weight`.

    Raises:
      ValueError: for a negative weight, or an item-item weight above 0
        without an item-item table.
    """
    if item_item_weight and self.item_item is None:
      raise ValueError(f"item_item_weight {item_item_weight:g}: the model "
                       "has no item-item table (item_item_neighbours 0).")
    self.transformer.set_correction_weight(correction_weight)
    if self.item_item is not None:
      self.item_item.set_served_weight(item_item_weight)

  def tower_scores(self, query: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
    """Two-tower scores `<e_q, e_j> / tau`: `[B, d], [B, L, d] -> [B, L]`."""
    return tf.einsum("bd,bld->bl", query, candidates) / (
        self.task.retrieval_temperature)

  def score_lists(
      self,
      query_features: Mapping[str, tf.Tensor],
      candidate_features: Mapping[str, tf.Tensor],
      mask: Optional[tf.Tensor] = None,
      training=None,
      correction_weight: Optional[float] = None,
      item_item_weight: Optional[float] = None,
  ) -> Dict[str, tf.Tensor]:
    """Runs both towers and the transformer on candidate lists.

    Args:
      query_features: the query tower's features `[B]`.
      candidate_features: the item tower's features `[B, L]`.
      mask: bool `[B, L]`, True for real candidates; all True if None.
      training: Keras training flag.
      correction_weight: the weight of the re-ranker's correction; None
        serves the transformer's `correction_weight` variable.
      item_item_weight: the weight of the item-item term; None serves
        `item_item.served_weight`, 0 skips it.

    Returns:
      `{"query": [B, d], "candidates": [B, L, d], "tower_scores": [B, L],
      "reranker": [B, L], "scores": [B, L]}`: the transformer's scores, and
      the served ones: those plus the item-item term times its weight; with an
      item-item table also `"item_item"` [B, L], the term
      (`scaled_like(item-item scores, tower_scores, mask)`).
    """
    query = self.query_tower.encode(query_features, training=training)
    q, r_q = query["embedding"], query["residual"]
    c, r_c = self.item_tower.embed_with_residual(candidate_features,
                                                 training=training)
    if mask is None:
      mask = tf.ones(tf.shape(c)[:2], tf.bool)
    s = self.tower_scores(q, c)
    if self.history_matches is not None:
      r_c = tf.concat([r_c, self.history_matches(
          query_features[HISTORY_IDS],
          candidate_features[self.item_id_feature])], axis=-1)
    read = {"query": q, "candidates": c, "scores": s, "query_residual": r_q,
            "candidate_residuals": r_c}
    if self.transformer.use_history:
      if "history" not in query:
        raise ValueError("LTTTDModel: the transformer attends to a history "
                         "but the query tower reads none (history_length "
                         "0); build both with the same history setting.")
      read["history"] = query["history"]
    if not self.ranking_gradient_to_towers:
      read = {k: tf.stop_gradient(v) for k, v in read.items()}
    if self.transformer.use_history:
      read["history_mask"] = query["history_mask"]
    z = self.transformer({**read, "mask": mask}, training=training,
                         correction_weight=correction_weight)
    out = {"query": q, "candidates": c, "tower_scores": s, "reranker": z,
           "scores": z}
    if self.item_item is not None and item_item_weight != 0.0:
      term = scaled_like(self.item_item(
          query_features[HISTORY_IDS],
          candidate_features[self.item_id_feature]), s, mask)
      weight = (self.item_item.served_weight if item_item_weight is None
                else item_item_weight)
      out.update(item_item=term, scores=z + weight * term)
    return out

  def call(self, inputs: Mapping[str, Mapping[str, tf.Tensor]],
           training=None) -> tf.Tensor:
    inputs = inputs.get("lists", inputs)  # a training batch of two streams
    for key in ("query", "candidates"):
      if key not in inputs:
        raise ValueError(f"LTTTDModel: input dict is missing '{key}'; "
                         "expected 'query' and 'candidates' (+ 'mask').")
    return self.score_lists(inputs["query"], inputs["candidates"],
                            inputs.get("mask"), training=training)["scores"]

  def _epoch_means(self, logs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    # `tfrs.Model` logs these three as the step's value, so a Keras history
    # would hold the last step's; the task's Mean trackers make them epoch
    # means like every other logged value, on every strategy.
    trackers = self.task.step_loss_trackers()
    for name in _STEP_LOSSES:
      trackers[name].update_state(logs[name])
    hidden = {t.name for t in trackers.values()}
    return {**{k: v for k, v in logs.items() if k not in hidden},
            **{n: trackers[n].result() for n in _STEP_LOSSES}}

  def train_step(self, inputs):
    return self._epoch_means(super().train_step(inputs))

  def test_step(self, inputs):
    return self._epoch_means(super().test_step(inputs))

  def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
    lists = inputs.get("lists", inputs)
    missing = [k for k in ("query", "item") if k not in inputs] + [
        k for k in ("query", "candidates", "labels", "mask")
        if self.task.needs_lists and k not in lists]
    if missing:
      raise ValueError(
          f"LTTTDModel.compute_loss: batch is missing {missing}; expected "
          f"{list(_TRAIN_KEYS)} (+ 'item_probability'), as "
          "tfrs_ltttd.lists.make_dataset produces, or retrieval pairs "
          "with the lists under 'lists' (make_joint_dataset).")
    positives = self.item_tower(inputs["item"], training=training)
    query = teacher = wide = None
    if self.task.needs_lists:
      # The correction is fitted at weight 1, whatever weight is served.
      # The teacher may add the item-item term (a teacher ensemble); the
      # transformer learns its own scores alone.
      out = self.score_lists(lists["query"], lists["candidates"],
                             lists["mask"], training=training,
                             correction_weight=1.0,
                             item_item_weight=self.teacher_item_item_weight)
      scored = (out["tower_scores"], out["reranker"], lists["labels"],
                lists["mask"])
      if self.teacher_item_item_weight:
        teacher = out["scores"]
      if self.task.wide_distillation:
        wide = self._wide_scores(lists["query"], out["query"], positives,
                                 inputs["item"][self.item_id_feature])
      if lists is inputs:  # one stream: the lists' queries are the pairs'
        query = out["query"]
    else:  # retrieval only: a plain two-tower step
      scored = (None, None, None, None)
    if query is None:
      query = self.query_tower(inputs["query"], training=training)
    sampled = None
    if "sampled" in inputs:  # catalogue-wide negatives (data.negatives)
      sampled = {
          "embeddings": self.item_tower(inputs["sampled"], training=training),
          "ids": inputs["sampled"][self.item_id_feature],
          "probability": inputs["sampled_probability"],
          "batch_probability": inputs["sampled_batch_probability"],
          "positive_probability": inputs["item_sampled_probability"]}
    return self.task(
        query, positives, *scored,
        candidate_sampling_probability=inputs.get("item_probability"),
        candidate_ids=inputs["item"][self.item_id_feature],
        compute_metrics=not training, sampled_negatives=sampled,
        teacher_scores=teacher, wide_scores=wide)

  def _wide_scores(self, query_features, query, items, item_ids):
    """`(teacher, student, mask)` `[B, M]` over the step's M in-batch items
    for each list's query: the towers' scores as student, and those plus
    `teacher_item_item_weight` times the item-item term as teacher."""
    student = tf.matmul(query, items, transpose_b=True) / (
        self.task.retrieval_temperature)
    mask = tf.ones(tf.shape(student), tf.bool)
    ids = tf.tile(item_ids[None], [tf.shape(query)[0], 1])
    term = scaled_like(self.item_item(query_features[HISTORY_IDS], ids),
                       student, mask)
    return (student + self.teacher_item_item_weight * term, student, mask)
