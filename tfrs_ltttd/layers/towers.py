"""Query and item towers: feature lookups + embeddings + MLP, L2-normalised."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf


def describe_features(
    table: Mapping[str, np.ndarray],
) -> Tuple[Dict[str, list], Dict[str, Tuple[float, float]]]:
  """Derives tower feature specs from a feature table.

  Integer and string columns become categorical features with their sorted
  distinct values as vocabulary; float columns become numeric features with
  their mean and variance.

  Args:
    table: feature name -> values (one per row).

  Returns:
    `(vocabularies, numeric)`, the `Tower` constructor arguments.

  Example:

  >>> describe_features({"id": np.array([3, 1, 3]), "x": np.array([1., 3.])})
  ({'id': [1, 3]}, {'x': (2.0, 1.0)})
  """
  vocabularies, numeric = {}, {}
  for name, values in table.items():
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.floating):
      numeric[name] = (float(values.mean()), float(max(values.var(), 1e-12)))
    elif np.issubdtype(values.dtype, np.integer):
      vocabularies[name] = [int(v) for v in np.unique(values)]
    else:
      vocabularies[name] = [str(v) for v in np.unique(values.astype(str))]
  return vocabularies, numeric


class Tower(tf.keras.layers.Layer):
  """Encodes a dict of features into an L2-normalised embedding.

  Every categorical feature goes through a `StringLookup` or `IntegerLookup`
  (with one out-of-vocabulary bucket, so unknown ids do not fail) and an
  embedding; every numeric feature is standardised with the given mean and
  variance. The concatenation passes an MLP and a linear layer to
  `output_dim`, then L2 normalisation. The side features (all but
  `id_feature`) are also returned as the residual vector r of PAPER.md, so
  that the listwise transformer reuses these encoders instead of owning a
  second copy (our decision where the paper is silent).

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
      **kwargs,
  ):
    super().__init__(**kwargs)
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

  def embed_with_residual(
      self, inputs: Mapping[str, tf.Tensor], training=None
  ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Returns `(embedding [..., d], residual [..., residual_dim])`."""
    encoded = self._encode(inputs)
    x = tf.concat([encoded[n] for n in self.feature_names], axis=-1)
    for layer in self._mlp:
      x = layer(x, training=training)
    embedding = tf.math.l2_normalize(x, axis=-1)
    side = [encoded[n] for n in self.feature_names if n != self.id_feature]
    if side:
      residual = tf.concat(side, axis=-1)
    else:
      residual = tf.zeros(tf.concat([tf.shape(embedding)[:-1], [0]], 0))
    return embedding, residual

  def call(self, inputs: Mapping[str, tf.Tensor], training=None) -> tf.Tensor:
    return self.embed_with_residual(inputs, training=training)[0]

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
    })
    return config


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class QueryTower(Tower):
  """The query (user) tower f_q; see `Tower` for the arguments."""


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class ItemTower(Tower):
  """The item (candidate) tower f_i; see `Tower` for the arguments."""
