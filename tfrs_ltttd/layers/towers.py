"""Query and item towers: feature lookups + embeddings + MLP, L2-normalised."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrs_ltttd.layers.features import HISTORY_IDS, HISTORY_LABELS, PAD_ID
from tfrs_ltttd.layers.history import HistoryEncoder


class Tower(tf.keras.layers.Layer):
  """Encodes a dict of features into an L2-normalised embedding.

  Every categorical feature goes through a `StringLookup` or `IntegerLookup`
  (with one out-of-vocabulary bucket, so unknown ids do not fail) and an
  embedding; every numeric feature is standardised with the given mean and
  variance. The concatenation passes an MLP and a linear layer to
  `output_dim`, then L2 normalisation. The side features (all but
  `id_feature`) are also returned as the residual vector r of LT-TTD's
  tokens (arXiv 2505.04434), so that the listwise transformer reuses these
  encoders instead of owning a second copy.

  With `history_length > 0` the tower also reads the user's last H
  interactions, the query features `history_item_ids` `[batch, H]` (padded
  with -1, or "" for string ids) and `history_labels` `[batch, H]`. Their
  items are embedded with `history_item_tower`'s own id lookup and
  embedding (one table for both towers: the paper's shared encoders), a
  `HistoryEncoder` adds label and recency embeddings and attention-pools
  them, and the pooled vector joins the MLP's input. `encode` also returns
  the history tokens, which the listwise transformer attends to.

  Inputs may have any leading shape: `[batch]` or `[batch, list_size]`.

  Args:
    vocabularies: categorical feature name -> vocabulary (ints or strings).
    numeric: numeric feature name -> `(mean, variance)` for normalisation.
    id_feature: the categorical feature that identifies the entity; it is
      left out of the residual vector.
    output_dim: d, the embedding dimension.
    embedding_dim: dimension of each categorical feature embedding.
    hidden_units: widths of the MLP's hidden layers.
    activation: activation of the hidden layers.
    dropout: dropout rate after each hidden layer.
    history_length: H, the history read (0: none).
    history_item_tower: the tower whose id embedding encodes history items;
      required when `history_length > 0`. `from_config` rebuilds it as a
      tower of its own (the sharing is made by `LTTTDModel.from_data`).
    history_labels: label buckets of the history (see `HistoryEncoder`).
    history_heads: attention-pooling heads of the history.
    **kwargs: passed to `tf.keras.layers.Layer`.

  Returns (call):
    `[..., output_dim]` unit-norm embeddings.

  Raises:
    ValueError: on an empty feature set, an `id_feature` that is not
      categorical, or a feature missing from the input dict.

  Example:

  >>> tower = QueryTower({"user_id": [1, 2, 3]}, output_dim=4)
  >>> tower({"user_id": tf.constant([1, 7])}).shape
  TensorShape([2, 4])
  """

  def __init__(
      self,
      vocabularies: Mapping[str, Sequence[Any]],
      numeric: Optional[Mapping[str, Sequence[float]]] = None,
      id_feature: Optional[str] = None,
      output_dim: int = 32,
      embedding_dim: int = 32,
      hidden_units: Sequence[int] = (64,),
      activation: Any = "relu",
      dropout: float = 0.0,
      history_length: int = 0,
      history_item_tower: Optional["Tower"] = None,
      history_labels: int = 3,
      history_heads: int = 1,
      **kwargs,
  ):
    super().__init__(**kwargs)
    if isinstance(history_item_tower, dict):  # from get_config
      history_item_tower = tf.keras.layers.deserialize(history_item_tower)
    if history_length < 0:
      raise ValueError(f"{self.name}: history_length must be >= 0, got "
                       f"{history_length}.")
    if history_length and (history_item_tower is None
                           or history_item_tower.id_feature is None):
      raise ValueError(f"{self.name}: history_length > 0 needs "
                       "history_item_tower, a Tower with an id_feature whose "
                       "embedding encodes the history items.")
    numeric = dict(numeric or {})
    if not vocabularies and not numeric:
      raise ValueError(f"{self.name}: give at least one feature in "
                       "`vocabularies` or `numeric`.")
    if id_feature is not None and id_feature not in vocabularies:
      raise ValueError(f"{self.name}: id_feature '{id_feature}' must be one "
                       f"of the categorical features {sorted(vocabularies)}.")
    for name, value in [("output_dim", output_dim),
                        ("embedding_dim", embedding_dim)]:
      if value < 1:
        raise ValueError(f"{self.name}: {name} must be >= 1, got {value}.")
    if not 0.0 <= dropout < 1.0:
      raise ValueError(f"{self.name}: dropout must be in [0, 1), got "
                       f"{dropout}.")
    self.vocabularies = {k: list(v) for k, v in vocabularies.items()}
    self.numeric = {k: (float(m), float(v)) for k, (m, v) in numeric.items()}
    self.id_feature = id_feature
    self.output_dim = output_dim
    self.embedding_dim = embedding_dim
    self.hidden_units = list(hidden_units)
    self.activation = tf.keras.activations.get(activation)
    self.dropout = dropout

    # Plain layer lists, not tf.keras.Sequential: a Sequential fixes a
    # reference input shape on its first call and would then reshape inputs
    # of another rank ([batch] vs [batch, list_size]).
    self._lookups, self._embeddings = {}, {}
    for name, vocab in self.vocabularies.items():
      if all(isinstance(v, (int, np.integer)) for v in vocab):
        self._lookups[name] = tf.keras.layers.IntegerLookup(
            vocabulary=np.asarray(vocab, np.int64), num_oov_indices=1,
            mask_token=None, name=f"{name}_lookup")
      else:
        self._lookups[name] = tf.keras.layers.StringLookup(
            vocabulary=[str(v) for v in vocab], num_oov_indices=1,
            mask_token=None, name=f"{name}_lookup")
      self._embeddings[name] = tf.keras.layers.Embedding(
          len(vocab) + 1, embedding_dim, name=f"{name}_embedding")
    self._mlp = []
    for units in self.hidden_units:
      self._mlp.append(tf.keras.layers.Dense(units, activation=self.activation))
      if dropout:
        self._mlp.append(tf.keras.layers.Dropout(dropout))
    self._mlp.append(tf.keras.layers.Dense(output_dim, name="output"))

    self.history_length = history_length
    self.history_labels = history_labels
    self.history_heads = history_heads
    # The config only: an attribute holding the tower would make this layer
    # track (and checkpoint) the whole item tower as its own sublayer.
    self._history_item_config = (
        tf.keras.layers.serialize(history_item_tower) if history_length
        else None)
    if history_length:
      item_id = history_item_tower.id_feature
      # The item tower's own layers: one table for both towers.
      self._history_lookup = history_item_tower._lookups[item_id]  # pylint: disable=protected-access
      self._history_embedding = history_item_tower._embeddings[item_id]  # pylint: disable=protected-access
      self.history = HistoryEncoder(
          history_length, history_item_tower.embedding_dim,
          num_labels=history_labels, num_heads=history_heads,
          name="history")

  @property
  def history_id_dtype(self) -> tf.DType:
    """dtype of `history_item_ids` (that of the item ids)."""
    if isinstance(self._history_lookup, tf.keras.layers.StringLookup):
      return tf.string
    return tf.int64

  @property
  def feature_names(self):
    return sorted(list(self.vocabularies) + list(self.numeric))

  @property
  def residual_dim(self) -> int:
    """Width of the residual (side-feature) vector."""
    return sum(self.embedding_dim if name in self.vocabularies else 1
               for name in self.feature_names if name != self.id_feature)

  def _encode(self, inputs: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    if not isinstance(inputs, Mapping):
      raise ValueError(f"{self.name}: inputs must be a dict of features "
                       f"{self.feature_names}, got {type(inputs).__name__}.")
    missing = [n for n in self.feature_names if n not in inputs]
    if missing:
      raise ValueError(
          f"{self.name}: feature(s) {missing} missing from the input dict; "
          f"expected {self.feature_names}, got {sorted(inputs)}.")
    encoded = {}
    for name in self.feature_names:
      if name in self.numeric:
        mean, var = self.numeric[name]
        value = (tf.cast(inputs[name], tf.float32) - mean) / var**0.5
        encoded[name] = value[..., None]
      else:
        encoded[name] = self._embeddings[name](self._lookups[name](
            inputs[name]))
    return encoded

  def _encode_history(self, inputs: Mapping[str, tf.Tensor]
                      ) -> Dict[str, tf.Tensor]:
    missing = [k for k in (HISTORY_IDS, HISTORY_LABELS) if k not in inputs]
    if missing:
      raise ValueError(
          f"{self.name}: reads a history of {self.history_length} items but "
          f"{missing} are missing from the input dict: give `[batch, H]` "
          "item ids (padded with -1, or '' for string ids) and labels.")
    ids = inputs[HISTORY_IDS]
    if ids.dtype == tf.string:
      mask = tf.not_equal(ids, "")
    else:
      mask = tf.not_equal(ids, tf.cast(PAD_ID, ids.dtype))
    vectors = self._history_embedding(self._history_lookup(ids))
    return self.history(vectors, inputs[HISTORY_LABELS], mask)

  def encode(self, inputs: Mapping[str, tf.Tensor], training=None
             ) -> Dict[str, tf.Tensor]:
    """Everything the tower computes, for the transformer to read.

    Returns:
      `{"embedding": [..., d], "residual": [..., residual_dim]}`, plus
      `"history"` `[batch, H, e]` tokens and `"history_mask"` `[batch, H]`
      when the tower reads a history.
    """
    encoded = self._encode(inputs)
    parts = [encoded[n] for n in self.feature_names]
    history = None
    if self.history_length:
      history = self._encode_history(inputs)
      parts.append(history["pooled"])
    x = tf.concat(parts, axis=-1)
    for layer in self._mlp:
      x = layer(x, training=training)
    embedding = tf.math.l2_normalize(x, axis=-1)
    side = [encoded[n] for n in self.feature_names if n != self.id_feature]
    if side:
      residual = tf.concat(side, axis=-1)
    else:
      residual = tf.zeros(tf.concat([tf.shape(embedding)[:-1], [0]], 0))
    out = {"embedding": embedding, "residual": residual}
    if history is not None:
      out.update(history=history["tokens"], history_mask=history["mask"])
    return out

  def embed_with_residual(
      self, inputs: Mapping[str, tf.Tensor], training=None
  ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Returns `(embedding [..., d], residual [..., residual_dim])`."""
    out = self.encode(inputs, training=training)
    return out["embedding"], out["residual"]

  def call(self, inputs: Mapping[str, tf.Tensor], training=None) -> tf.Tensor:
    return self.encode(inputs, training=training)["embedding"]

  def get_config(self) -> Dict[str, Any]:
    config = super().get_config()
    config.update({
        "vocabularies": self.vocabularies,
        "numeric": {k: list(v) for k, v in self.numeric.items()},
        "id_feature": self.id_feature,
        "output_dim": self.output_dim,
        "embedding_dim": self.embedding_dim,
        "hidden_units": self.hidden_units,
        "activation": tf.keras.activations.serialize(self.activation),
        "dropout": self.dropout,
        "history_length": self.history_length,
        "history_labels": self.history_labels,
        "history_heads": self.history_heads,
        "history_item_tower": self._history_item_config,
    })
    return config


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class QueryTower(Tower):
  """The query (user) tower f_q; see `Tower` for the arguments."""


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class ItemTower(Tower):
  """The item (candidate) tower f_i; see `Tower` for the arguments."""
