"""The unified two-stage pipeline as one `tf.Module`, ready to export."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd.layers.features import HISTORY_IDS, HISTORY_LABELS
from tfrs_ltttd.layers.item_item import scaled_like
from tfrs_ltttd.retrieval.exact import ExactTopK
from tfrs_ltttd.retrieval.index import build_index, encode_catalogue
from tfrs_ltttd.retrieval.scann import ScaNNConfig


def feature_specs(tower) -> Dict[str, tf.TensorSpec]:
  """The input spec of every feature a tower reads, by name: `[batch]` per
  feature, and `[batch, H]` for the history of a tower that reads one
  (`history_item_ids` in the item id dtype, padded with -1 or "";
  `history_labels` float32)."""
  specs = {}
  if getattr(tower, "history_length", 0):
    specs[HISTORY_IDS] = tf.TensorSpec([None, None], tower.history_id_dtype,
                                       name=HISTORY_IDS)
    specs[HISTORY_LABELS] = tf.TensorSpec([None, None], tf.float32,
                                          name=HISTORY_LABELS)
  for name in tower.feature_names:
    if name in tower.numeric:
      dtype = tf.float32
    elif all(isinstance(v, (int, np.integer)) for v in tower.vocabularies[name]):
      dtype = tf.int64
    else:
      dtype = tf.string
    specs[name] = tf.TensorSpec([None], dtype, name=name)
  return specs


class Recommender(tf.Module):
  """Query features in, top-k item ids and scores out.

  `recommend`: query features (and the user's history, for a history-aware
  model) -> `QueryTower` -> top-`num_candidates` from the index -> the
  stored item embeddings and residuals of those candidates ->
  `ListwiseTransformer` (attending to the history tokens too) -> top-`k`. The catalogue is encoded once, in
  batches, when the recommender is built; item ids are kept beside the
  vectors, and the re-ranker's attention projections beside them in the
  layout it computes with (`ListwiseTransformer.attention_weights`): the
  recommender serves the model's weights as they were when it was built.

  Args:
    model: a trained `LTTTDModel`.
    items: the catalogue's item features, one value per row, encoded here.
    item_id_feature: the feature holding item ids (returned to callers).
    index: `"bruteforce"` or `"scann"`.
    num_candidates: K, the retrieval depth (capped at the catalogue size).
    k: results returned by `recommend`.
    scann: ScaNN settings (`index="scann"` only).
    catalogue: instead of `items`, an already encoded catalogue
      `(ids [N], embeddings [N, d], residuals [N, r])`, as an offline batch
      job over a large catalogue would produce.
    max_batch: the most queries computed at once; larger requests are
      answered in chunks of this size.

  Every input must hold one row per query, and numeric query features and
  `history_labels` must be finite: otherwise the request fails with
  `InvalidArgumentError` naming the input (rather than ranking by NaN
  scores).

  Memory is bounded for any batch: a request of more than `max_batch`
  queries is answered in chunks of exactly `max_batch` (the last one padded
  by repeating its final query, whose answers are dropped) by a loop of
  stock ops that runs one chunk at a time, so a request holds one chunk's
  scores and attention (`heads x K x K` floats per query and layer) however
  many queries it carries. Smaller requests take the direct path.

  Example:

  >>> from tfrs_ltttd import LTTTDModel, ModelConfig
  >>> from tfrs_ltttd.data import history, synthetic
  >>> data = synthetic.generate(synthetic.SyntheticConfig(
  ...     num_users=20, num_items=30, interactions_per_user=5))
  >>> model = LTTTDModel.from_data(data, ModelConfig(output_dim=8, width=8,
  ...                                                history_length=10))
  >>> recommender = Recommender(model, data.items, num_candidates=20, k=5)
  >>> queries = history.serving_query(data, np.arange(2), 10)
  >>> sorted(queries)
  ['history_item_ids', 'history_labels', 'user_age', 'user_id', 'user_segment']
  >>> queries = {k: tf.constant(v) for k, v in queries.items()}
  >>> recommender.recommend(queries)["item_ids"].shape
  TensorShape([2, 5])
  """

  def __init__(
      self,
      model,
      items: Optional[Mapping[str, np.ndarray]] = None,
      item_id_feature: str = "item_id",
      index: str = "bruteforce",
      num_candidates: int = 200,
      k: int = 10,
      scann: ScaNNConfig = ScaNNConfig(),
      catalogue: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None,
      max_batch: int = 64,
  ):
    super().__init__(name="ltttd_recommender")
    if (items is None) == (catalogue is None):
      raise ValueError("give exactly one of `items` (features to encode) and "
                       "`catalogue` (ids, embeddings, residuals).")
    if catalogue is None:
      if item_id_feature not in items:
        raise ValueError(f"items has no id feature '{item_id_feature}'; it "
                         f"holds {sorted(items)}.")
      ids = np.asarray(items[item_id_feature])
      embeddings, residuals = encode_catalogue(model.item_tower, items)
    else:
      ids, embeddings, residuals = (np.asarray(x) for x in catalogue)
      expected = {"embeddings": (len(ids), model.item_tower.output_dim),
                  "residuals": (len(ids), model.item_tower.residual_dim)}
      for name, array in (("embeddings", embeddings),
                          ("residuals", residuals)):
        if array.shape != expected[name]:
          raise ValueError(f"catalogue {name} must have shape "
                           f"{expected[name]}, got {array.shape}.")
    if len(np.unique(ids)) != len(ids):
      raise ValueError("item ids must be unique.")
    num_candidates = min(num_candidates, len(ids))
    if not 1 <= k <= num_candidates:
      raise ValueError(f"k must be in [1, num_candidates={num_candidates}], "
                       f"got {k}.")
    if max_batch < 1:
      raise ValueError(f"max_batch must be >= 1, got {max_batch}.")
    self.max_batch = int(max_batch)
    self.index_kind = index
    self.num_candidates = num_candidates
    self.k = k
    self.query_tower = model.query_tower
    self.transformer = model.transformer
    self.item_item = getattr(model, "item_item", None)
    self.history_matches = getattr(model, "history_matches", None)
    self._tau = float(model.task.retrieval_temperature)
    rows = np.arange(len(ids), dtype=np.int64)
    self.index = build_index(embeddings, rows, kind=index, k=num_candidates,
                             scann=scann)
    if isinstance(self.index, ExactTopK):
      # The exact index holds the catalogue's vectors already.
      self._item_embeddings = self.index.embeddings
    else:
      self.item_embeddings = tf.Variable(embeddings.astype(np.float32),
                                         trainable=False,
                                         name="item_embeddings")
      self._item_embeddings = lambda rows: tf.gather(self.item_embeddings,
                                                     rows)
    self.item_residuals = tf.Variable(residuals.astype(np.float32),
                                      trainable=False,
                                      name="item_residuals")
    self.item_ids = tf.Variable(ids, trainable=False, name="item_ids")
    self._row_of_id = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(ids), rows),
        default_value=-1)
    self.query_specs = feature_specs(self.query_tower)
    self.item_id_spec = tf.TensorSpec([None, None], self.item_ids.dtype,
                                      name="candidate_ids")
    self.attention_weights = None  # the re-ranker derives them
    if not self.transformer.built:  # an untrained model: one neutral query
      self._rerank_once()
    # The attention projections in the layout the re-ranker computes with,
    # stored once rather than re-laid out in every request.
    self.attention_weights = {
        name: {key: tf.Variable(value, trainable=False, name=f"{name}_{key}")
               for key, value in weights.items()}
        for name, weights in self.transformer.attention_weights().items()}

  def _rerank_once(self) -> None:
    """Re-ranks one candidate for a query of neutral values (empty strings,
    zeros, a one-item history), which builds the re-ranker's weights."""
    neutral = {tf.string: "", tf.int64: 0, tf.float32: 0.0}
    features = {name: tf.fill([1] * spec.shape.rank,
                              tf.constant(neutral[spec.dtype], spec.dtype))
                for name, spec in self.query_specs.items()}
    rows = tf.zeros([1, 1], tf.int64)
    self._rerank(self._query(features), rows, tf.ones([1, 1], tf.bool),
                 features)

  def _checked(self, features, candidate_ids=None):
    """The request's inputs, checked: one row per query in every input, and
    every numeric feature finite (else `InvalidArgumentError` naming it).

    Returns:
      `(features, candidate_ids)`, usable only once the checks passed.
    """
    features = dict(features)
    named = dict(features)
    if candidate_ids is not None:
      named["candidate_ids"] = candidate_ids
    first = sorted(features)[0]
    checks = [tf.debugging.assert_equal(
        tf.shape(t)[0], tf.shape(named[first])[0],
        message=f"input '{name}' must hold one row per query, as "
        f"'{first}' does") for name, t in sorted(named.items())]
    if HISTORY_IDS in features and HISTORY_LABELS in features:
      checks.append(tf.debugging.assert_equal(
          tf.shape(features[HISTORY_IDS])[1],
          tf.shape(features[HISTORY_LABELS])[1],
          message=f"inputs '{HISTORY_IDS}' and '{HISTORY_LABELS}' must be "
          "equally long: one label per history item"))
    with tf.control_dependencies(checks):
      for name in list(self.query_tower.numeric) + [HISTORY_LABELS]:
        if name in features:
          features[name] = tf.debugging.check_numerics(
              tf.cast(features[name], tf.float32),
              f"numeric feature '{name}' must be finite (no NaN or inf)")
      features = {k: tf.identity(v) for k, v in features.items()}
      if candidate_ids is not None:
        candidate_ids = tf.identity(candidate_ids)
    return features, candidate_ids

  def _query(self, features):
    return self.query_tower.encode(features, training=False)

  def _in_chunks(self, fn, inputs, outputs: Mapping[str, tf.TensorSpec]):
    """`fn(inputs)` directly, or over chunks of `max_batch` queries.

    Args:
      fn: maps `inputs` to a dict of tensors as `outputs` describes.
      inputs: the request's checked inputs (a nest of tensors), one row
        per query.
      outputs: output name -> spec of `fn`'s output (`[None, ...]`).

    Returns:
      `fn(inputs)`, computed with at most `max_batch` queries in flight.
    """
    first = tf.nest.flatten(inputs)[0]
    chunk = self.max_batch
    if first.shape[0] is not None and first.shape[0] <= chunk:
      return fn(inputs)  # small by its static shape: no branch needed
    size = tf.shape(first)[0]

    def chunked():
      count = (size + chunk - 1) // chunk
      rows = tf.minimum(tf.range(count * chunk), size - 1)

      def split(t):
        t = tf.gather(t, rows)
        return tf.reshape(t, tf.concat([[count, chunk], tf.shape(t)[1:]], 0))

      # One chunk in flight (parallel_iterations=1), each of the same shape.
      out = tf.map_fn(
          fn, tf.nest.map_structure(split, inputs),
          fn_output_signature={
              n: tf.TensorSpec([chunk] + s.shape[1:], s.dtype)
              for n, s in outputs.items()},
          parallel_iterations=1)
      return {n: tf.ensure_shape(tf.reshape(
          t, tf.concat([[-1], tf.shape(t)[2:]], 0))[:size], outputs[n].shape)
              for n, t in out.items()}

    return tf.cond(size <= chunk, lambda: fn(inputs), chunked)

  def _rerank(self, query, rows, mask, features):
    q = query["embedding"]
    c = self._item_embeddings(rows)
    r_c = tf.gather(self.item_residuals, rows)
    if self.history_matches is not None:
      r_c = tf.concat([r_c, self.history_matches(
          features[HISTORY_IDS], tf.gather(self.item_ids, rows))], axis=-1)
    s = tf.einsum("bd,bld->bl", q, c) / self._tau
    inputs = {"query": q, "candidates": c, "scores": s, "mask": mask,
              "query_residual": query["residual"], "candidate_residuals": r_c}
    if self.transformer.use_history:
      inputs.update(history=query["history"],
                    history_mask=query["history_mask"])
    scores = self.transformer(inputs, training=False,
                              attention_weights=self.attention_weights)
    if self.item_item is None:
      return scores
    term = scaled_like(self.item_item(features[HISTORY_IDS],
                                      tf.gather(self.item_ids, rows)), s, mask)
    return scores + self.item_item.served_weight * term

  def _search(self, q):
    batch = tf.shape(q)[0]
    if self.index_kind == "scann":
      # ScaNN's op fails on an empty batch: search one zero query more and
      # drop it.
      q = tf.concat([q, tf.zeros([1, q.shape[-1]], q.dtype)], axis=0)
    scores, rows = self.index(q, k=self.num_candidates)
    shape = [None, self.num_candidates]  # ScaNN's outputs have no static shape
    return (tf.ensure_shape(scores[:batch], shape),
            tf.ensure_shape(rows[:batch], shape))

  def retrieve(self, features: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Top-K ids and two-tower scores `<e_q, e_i>`: `[B, K]` each."""
    features, _ = self._checked(features)

    def fn(features):
      scores, rows = self._search(self._query(features)["embedding"])
      return {"item_ids": tf.gather(self.item_ids, rows), "scores": scores}

    return self._in_chunks(fn, features, self._outputs(self.num_candidates))

  def rank(self, features: Mapping[str, tf.Tensor],
           candidate_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Transformer scores of a given candidate list `[B, L]`.

    Ids not in the catalogue are masked out: `mask` is False there and the
    score is `tfrs_ltttd.layers.PADDING_SCORE`.
    """
    features, candidate_ids = self._checked(features, candidate_ids)

    def fn(inputs):
      features, candidate_ids = inputs
      rows = self._row_of_id.lookup(candidate_ids)
      mask = rows >= 0
      scores = self._rerank(self._query(features), tf.maximum(rows, 0), mask,
                            features)
      return {"scores": scores, "mask": mask}

    return self._in_chunks(fn, (features, candidate_ids), {
        "scores": tf.TensorSpec([None, None], tf.float32),
        "mask": tf.TensorSpec([None, None], tf.bool)})

  def recommend(self, features: Mapping[str, tf.Tensor]
                ) -> Dict[str, tf.Tensor]:
    """The full pipeline: `item_ids` and transformer `scores`, `[B, k]`.

    Retrieved items that stand in the query's `history_item_ids` are masked
    out before the top-k (score `PADDING_SCORE` if fewer than k remain).
    """
    features, _ = self._checked(features)
    return self._in_chunks(self._recommend, features, self._outputs(self.k))

  def _outputs(self, width: int) -> Dict[str, tf.TensorSpec]:
    return {"item_ids": tf.TensorSpec([None, width], self.item_ids.dtype),
            "scores": tf.TensorSpec([None, width], tf.float32)}

  def _recommend(self, features):
    query = self._query(features)
    _, rows = self._search(query["embedding"])
    mask = tf.ones(tf.shape(rows), tf.bool)
    if HISTORY_IDS in features:
      # Items already in the history are not recommended again (the
      # evaluation protocol, which excludes seen items, does the same).
      ids = tf.gather(self.item_ids, rows)
      history = tf.cast(features[HISTORY_IDS], ids.dtype)
      mask = ~tf.reduce_any(ids[:, :, None] == history[:, None, :], axis=-1)
    scores = self._rerank(query, rows, mask, features)
    top, position = tf.math.top_k(scores, k=self.k)
    return {"item_ids": tf.gather(self.item_ids,
                                  tf.gather(rows, position, batch_dims=1)),
            "scores": top}

  def signatures(self) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    """`serving_default` (recommend), `retrieve` and `rank`."""
    specs = dict(self.query_specs)

    @tf.function(input_signature=[specs])
    def serve_recommend(features):
      return self.recommend(features)

    @tf.function(input_signature=[specs])
    def serve_retrieve(features):
      return self.retrieve(features)

    @tf.function(input_signature=[specs, self.item_id_spec])
    def serve_rank(features, candidate_ids):
      return self.rank(features, candidate_ids)

    self._serve = (serve_recommend, serve_retrieve, serve_rank)
    return {"serving_default": serve_recommend.get_concrete_function(),
            "retrieve": serve_retrieve.get_concrete_function(),
            "rank": serve_rank.get_concrete_function()}
