"""The listwise transformer: a set encoder over the candidate list."""

from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np
import tensorflow as tf

# Score given to padded slots, so that they sort last and carry no mass.
PADDING_SCORE = -1e9

_REQUIRED = ("query", "candidates", "scores", "mask")


@tf.keras.utils.register_keras_serializable(package="tfrs_ltttd")
class ListwiseTransformer(tf.keras.layers.Layer):
  """Scores every candidate of a list in the context of the whole list.

  One token per candidate, built as in LT-TTD (arXiv 2505.04434):
  `x_j = [e_q ; e_j ; e_q * e_j ; r_q ; r_j ; s(q, j)]`, the query embedding,
  the candidate embedding, their elementwise product (an addition
  to the paper's token: it hands the first layer the two-tower interaction
  directly), the optional residual
  side features of query and candidate, and the two-tower score. The tokens
  are projected to `width` and pass `num_layers` pre-norm encoder blocks of
  multi-head self-attention across the list, then an MLP head gives one score
  per token, added to the token's two-tower score (`score_residual`).

  The served score is `s(q, j) + w * head(x_j)`: `w`, the non-trainable
  variable `correction_weight` (1 when built), weighs the re-ranker's
  correction, so that a re-ranker that does not help on some data can step
  aside (`w = 0` serves the towers' order) without being trained again.
  Training fits the correction at `w = 1` (`call(..., correction_weight=1.0)`)
  whatever the variable holds; `w` is chosen afterwards, on validation.

  With `use_history=True` each block also lets every candidate attend to the
  user's history tokens (target attention, as in DIN; an addition to the
  paper's block): self-attention across the list, then cross-attention from each
  candidate to the history, then the feed-forward net. The history is what
  puts the re-ranker ahead of the towers, whose dot product of two pooled
  vectors cannot express a candidate-by-past-item interaction. An empty
  history (all padding) adds nothing.

  There is no positional encoding (the list is a set), so the
  layer is permutation-equivariant over candidates. Padded slots are masked
  out of attention as keys and get `PADDING_SCORE` in the output, so the
  scores of real candidates do not depend on what padding holds.

  Args:
    num_layers: encoder blocks.
    num_heads: attention heads per block.
    width: model width; must be divisible by `num_heads`.
    ffn_width: hidden width of each block's feed-forward net; default
      `2 * width`.
    dropout: dropout rate in attention, feed-forward and head.
    activation: activation of the feed-forward net and the head.
    use_history: cross-attend to `"history"` tokens (then required).
    score_residual: output `s(q, j) + head(x_j)`: the network learns a
      correction to the two-tower score rather than a ranking from scratch,
      so an untrained re-ranker keeps the towers' order and distillation
      hands the towers exactly the correction. Without it the correction is
      `head(x_j) - s(q, j)`, so `correction_weight` blends the two orders.
    **kwargs: passed to `tf.keras.layers.Layer`.

  Call args:
    inputs: a dict with `"query"` [B, d], `"candidates"` [B, L, d],
      `"scores"` [B, L] (two-tower scores), `"mask"` [B, L] (bool, True for
      real candidates), and optionally `"query_residual"` [B, r_q] and
      `"candidate_residuals"` [B, L, r_i]; with `use_history`, `"history"`
      [B, H, e] tokens and `"history_mask"` [B, H] (bool).
    training: Keras training flag (dropout).
    correction_weight: the weight of the correction in this call; None
      reads the `correction_weight` variable.

  Returns:
    `[B, L]` scores; `PADDING_SCORE` where `mask` is False.

  Raises:
    ValueError: when a key is missing or the shapes disagree.

  Example:

  >>> layer = ListwiseTransformer(num_layers=1, num_heads=2, width=8)
  >>> layer({"query": tf.ones([2, 4]), "candidates": tf.ones([2, 3, 4]),
  ...        "scores": tf.zeros([2, 3]), "mask": tf.ones([2, 3], bool)}).shape
  TensorShape([2, 3])

  References:
    A. Abraich, "Theoretical Guarantees for LT-TTD", arXiv 2505.04434.
  """

  def __init__(
      self,
      num_layers: int = 2,
      num_heads: int = 4,
      width: int = 64,
      ffn_width: int | None = None,
      dropout: float = 0.1,
      activation: Any = "gelu",
      use_history: bool = False,
      score_residual: bool = True,
      **kwargs,
  ):
    super().__init__(**kwargs)
    if num_layers < 1:
      raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
    if num_heads < 1 or width % num_heads:
      raise ValueError(f"width ({width}) must be a positive multiple of "
                       f"num_heads ({num_heads}).")
    if not 0.0 <= dropout < 1.0:
      raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
    self.num_layers = num_layers
    self.num_heads = num_heads
    self.width = width
    self.ffn_width = ffn_width or 2 * width
    self.dropout = dropout
    self.activation = tf.keras.activations.get(activation)
    self.use_history = bool(use_history)
    self.score_residual = bool(score_residual)

    self._project = tf.keras.layers.Dense(width, name="project")
    self._blocks = []
    for i in range(num_layers):
      self._blocks.append({
          "norm1": tf.keras.layers.LayerNormalization(name=f"block{i}_norm1"),
          "attention": tf.keras.layers.MultiHeadAttention(
              num_heads, key_dim=width // num_heads, dropout=dropout,
              name=f"block{i}_attention"),
          "norm2": tf.keras.layers.LayerNormalization(name=f"block{i}_norm2"),
          "ffn_in": tf.keras.layers.Dense(self.ffn_width,
                                          activation=self.activation,
                                          name=f"block{i}_ffn_in"),
          "ffn_out": tf.keras.layers.Dense(width, name=f"block{i}_ffn_out"),
          "drop": tf.keras.layers.Dropout(dropout),
      })
      if self.use_history:
        self._blocks[-1].update({
            "norm_cross": tf.keras.layers.LayerNormalization(
                name=f"block{i}_norm_cross"),
            "cross_attention": tf.keras.layers.MultiHeadAttention(
                num_heads, key_dim=width // num_heads, dropout=dropout,
                name=f"block{i}_cross_attention"),
        })
    if self.use_history:
      self._history_project = tf.keras.layers.Dense(width,
                                                    name="history_project")
      self._history_norm = tf.keras.layers.LayerNormalization(
          name="history_norm")
    self._final_norm = tf.keras.layers.LayerNormalization(name="final_norm")
    # Plain layers, not tf.keras.Sequential, which would pin the list length
    # of its first call as a reference shape.
    self._head_hidden = tf.keras.layers.Dense(width, activation=self.activation,
                                              name="head_hidden")
    self._head_out = tf.keras.layers.Dense(1, name="head_out")

  def build(self, input_shape):
    self.correction_weight = self.add_weight(
        name="correction_weight", shape=(), trainable=False,
        initializer=tf.keras.initializers.Constant(1.0))
    super().build(input_shape)

  def set_correction_weight(self, weight: float) -> None:
    """Sets the served weight of the correction (0: the towers' order)."""
    if not self.built:
      raise ValueError(f"{self.name}: call the layer once before setting "
                       "its correction_weight.")
    weight = float(weight)
    if not (np.isfinite(weight) and weight >= 0.0):
      raise ValueError(f"{self.name}: correction_weight must be a finite "
                       f"number >= 0, got {weight}.")
    self.correction_weight.assign(weight)

  def _validate(self, inputs: Mapping[str, tf.Tensor]) -> None:
    if not isinstance(inputs, Mapping):
      raise ValueError(f"{self.name}: inputs must be a dict with keys "
                       f"{list(_REQUIRED)}, got {type(inputs).__name__}.")
    required = _REQUIRED + (("history", "history_mask") if self.use_history
                            else ())
    missing = [k for k in required if inputs.get(k) is None]
    if missing:
      raise ValueError(f"{self.name}: input dict is missing {missing}; "
                       f"expected keys {list(_REQUIRED)} (+ optional "
                       "'query_residual', 'candidate_residuals').")
    ranks = {"query": 2, "candidates": 3, "scores": 2, "mask": 2,
             "query_residual": 2, "candidate_residuals": 3, "history": 3,
             "history_mask": 2}
    shapes = {}
    for key, rank in ranks.items():
      if inputs.get(key) is not None:
        shape = tf.TensorShape(inputs[key].shape)
        if shape.rank is None:  # unknown while tracing; checked by the ops
          shape = tf.TensorShape([None] * rank)
        if shape.rank != rank:
          raise ValueError(f"{self.name}: '{key}' must have rank {rank}, got "
                           f"shape {shape}.")
        shapes[key] = shape
    d_q, d_c = shapes["query"][-1], shapes["candidates"][-1]
    if d_q is not None and d_c is not None and d_q != d_c:
      raise ValueError(f"{self.name}: dimension mismatch: 'query' has d={d_q} "
                       f"but 'candidates' has d={d_c}; they must be equal.")
    list_size = shapes["candidates"][1]
    for key in ("scores", "mask", "candidate_residuals"):
      if key in shapes:
        size = shapes[key][1]
        if None not in (size, list_size) and size != list_size:
          raise ValueError(
              f"{self.name}: list length mismatch: '{key}' has L={size} but "
              f"'candidates' has L={list_size}.")

  def call(self, inputs: Mapping[str, tf.Tensor], training=None,
           correction_weight=None) -> tf.Tensor:
    self._validate(inputs)
    query = tf.convert_to_tensor(inputs["query"], tf.float32)
    candidates = tf.convert_to_tensor(inputs["candidates"], tf.float32)
    scores = tf.convert_to_tensor(inputs["scores"], tf.float32)
    mask = tf.cast(inputs["mask"], tf.bool)
    list_size = tf.shape(candidates)[1]

    def tile(x):  # [B, r] -> [B, L, r]
      return tf.tile(x[:, None, :], tf.stack([1, list_size, 1]))

    q = tile(query)
    tokens = [q, candidates, q * candidates]
    if inputs.get("query_residual") is not None:
      tokens.append(tile(tf.cast(inputs["query_residual"], tf.float32)))
    if inputs.get("candidate_residuals") is not None:
      tokens.append(tf.cast(inputs["candidate_residuals"], tf.float32))
    tokens.append(scores[..., None])
    x = self._project(tf.concat(tokens, axis=-1))

    # Every slot attends to the real slots only: [B, L, L].
    attention_mask = mask[:, None, :] & tf.ones_like(mask)[:, :, None]
    if self.use_history:
      history_mask = tf.cast(inputs["history_mask"], tf.bool)
      history = self._history_norm(self._history_project(
          tf.cast(inputs["history"], tf.float32)))
      # [B, L, H]: every slot attends to the real history tokens; a user
      # with none gets no cross-attention output at all.
      cross_mask = history_mask[:, None, :] & tf.ones_like(mask)[:, :, None]
      has_history = tf.cast(tf.reduce_any(history_mask, axis=1),
                            tf.float32)[:, None, None]
    for block in self._blocks:
      h = block["norm1"](x)
      h = block["attention"](h, h, attention_mask=attention_mask,
                             training=training)
      x = x + block["drop"](h, training=training)
      if self.use_history:
        h = block["cross_attention"](block["norm_cross"](x), history,
                                     attention_mask=cross_mask,
                                     training=training)
        x = x + block["drop"](h * has_history, training=training)
      h = block["ffn_in"](block["norm2"](x))
      h = block["ffn_out"](block["drop"](h, training=training))
      x = x + block["drop"](h, training=training)
    logits = tf.squeeze(
        self._head_out(self._head_hidden(self._final_norm(x))), -1)
    if correction_weight is None:
      correction_weight = self.correction_weight
    correction = logits if self.score_residual else logits - scores
    logits = scores + tf.cast(correction_weight, logits.dtype) * correction
    return tf.where(mask, logits, tf.cast(PADDING_SCORE, logits.dtype))

  def get_config(self) -> Dict[str, Any]:
    config = super().get_config()
    config.update({
        "num_layers": self.num_layers,
        "num_heads": self.num_heads,
        "width": self.width,
        "ffn_width": self.ffn_width,
        "dropout": self.dropout,
        "activation": tf.keras.activations.serialize(self.activation),
        "use_history": self.use_history,
        "score_residual": self.score_residual,
    })
    return config
