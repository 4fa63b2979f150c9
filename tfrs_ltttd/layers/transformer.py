"""The listwise transformer: a set encoder over the candidate list."""

from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np
import tensorflow as tf

# Score given to padded slots, so that they sort last and carry no mass.
PADDING_SCORE = -1e9

_REQUIRED = ("query", "candidates", "scores", "mask")


def _dense(layer: tf.keras.layers.Dense, x: tf.Tensor) -> tf.Tensor:
  """`layer(x)` for `x` of any rank, without the reshapes of its own call."""
  return layer.activation(tf.matmul(x, layer.kernel) + layer.bias)


def _norm(layer: tf.keras.layers.LayerNormalization,
          x: tf.Tensor) -> tf.Tensor:
  """`layer(x)` over the last axis, without the reshapes of its own call."""
  mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
  return tf.nn.batch_normalization(x, mean, variance, layer.beta,
                                   layer.gamma, layer.epsilon)


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

  The graph is shaped for serving, the function is the standard one: the
  sublayers (Keras `Dense`, `LayerNormalization`, `MultiHeadAttention`) own
  the weights, and `call` computes what their calls would with fewer ops:
  the query's part of the token projection once per query instead of tiled
  over the list, `e_q * e_j` as `e_j diag(e_q) W`, one fused projection for
  the query, key and value of self-attention (key and value of
  cross-attention), and the heads a batch dimension from the projection
  on (no transposes of activations).

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
      correction to the two-tower score rather than a ranking from scratch
      (a head that outputs 0 keeps the towers' order; an untrained one's
      random output does not), and distillation hands the towers exactly
      the correction. Without it the correction is
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
    attention_weights: `attention_weights()` computed beforehand (a
      serving graph's copy); None derives them in this call.

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
    # `call` runs the sublayers' math on their weights (fewer ops than their
    # own calls), so every sublayer is built here, in its own name scope.
    shapes = input_shape if isinstance(input_shape, Mapping) else {}
    size = lambda key: (0 if shapes.get(key) is None  # noqa: E731
                        else tf.TensorShape(shapes[key])[-1])
    built = {}
    if shapes.get("query") is not None:  # else `call` names what is missing
      built[self._project] = [None, 3 * size("query")
                              + size("query_residual")
                              + size("candidate_residuals") + 1]
    if self.use_history and shapes.get("history") is not None:
      built[self._history_project] = [None, size("history")]
      built[self._history_norm] = [None, None, self.width]
    tokens = [None, None, self.width]
    zeros = tf.zeros([1, 1, self.width])
    for block in self._blocks:
      built.update({block[key]: tokens for key in ("norm1", "norm2",
                                                   "norm_cross", "ffn_in")
                    if key in block})
      built[block["ffn_out"]] = [None, None, self.ffn_width]
      for key in ("attention", "cross_attention"):
        if key in block:
          block[key](zeros, zeros)  # Keras builds it on its first call
    built.update({self._final_norm: tokens, self._head_hidden: tokens,
                  self._head_out: tokens})
    for layer, shape in built.items():
      with tf.name_scope(layer.name):
        layer.build(shape)
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

  def attention_weights(self) -> Dict[str, Dict[str, tf.Tensor]]:
    """Each attention's input projections in the layout `call` computes
    with, heads leading: for `"block{i}_attention"` (self-attention)
    `{"qkv_kernel": [3 heads, w, key_dim], "qkv_bias": [3 heads, 1,
    key_dim]}` (queries, keys, values), for `"block{i}_cross_attention"`
    `{"q_kernel", "q_bias", "kv_kernel", "kv_bias"}` likewise.

    `call(..., attention_weights=...)` reads them instead of deriving them
    from the sublayers' weights on every call: a serving graph stores them
    once (`tfrs_ltttd.serving.Recommender` does), and the same call then
    runs without the weights' transposes and concatenations.
    """
    if not self.built:
      raise ValueError(f"{self.name}: call the layer once before reading "
                       "its attention_weights.")
    # Keras' kernels are [w, heads, key_dim] and biases [heads, key_dim].
    kernel = lambda d: tf.transpose(d.kernel, [1, 0, 2])  # noqa: E731
    bias = lambda d: d.bias[:, None, :]  # noqa: E731
    out = {}
    for i, block in enumerate(self._blocks):
      for key in ("attention", "cross_attention"):
        if key not in block:
          continue
        dense = (block[key]._query_dense, block[key]._key_dense,
                 block[key]._value_dense)
        if key == "attention":
          parts = {"qkv": dense}
        else:
          parts = {"q": dense[:1], "kv": dense[1:]}
        out[f"block{i}_{key}"] = {
            **{f"{n}_kernel": tf.concat([kernel(d) for d in ds], 0)
               for n, ds in parts.items()},
            **{f"{n}_bias": tf.concat([bias(d) for d in ds], 0)
               for n, ds in parts.items()}}
    return out

  def _attend(self, attention, weights, x, context, bias, training):
    """`attention(x, context)` as Keras' `MultiHeadAttention` computes it,
    from `weights` (its entry of `attention_weights`), with the heads as a
    batch dimension from the start: `x` `[B, T, w]` is projected by one
    broadcast batched matmul into the queries, keys and values of every
    head (`[B, 3 heads, T, key_dim]`; queries `[B, heads, T, key_dim]` and
    keys and values of `context` `[B, S, w]` for cross-attention, None for
    self-attention), and the output projection sums the heads'
    `[B, heads, T, w]` parts, so nothing is transposed. `bias`
    `[B, 1, 1, S]` is 0 for the keys attended to and `PADDING_SCORE` for
    the others."""
    scale = 1.0 / np.sqrt(self.width // self.num_heads).astype(np.float32)
    if context is None:
      q, k, v = tf.split(tf.matmul(x[:, None], weights["qkv_kernel"])
                         + weights["qkv_bias"], 3, axis=1)
    else:
      q = tf.matmul(x[:, None], weights["q_kernel"]) + weights["q_bias"]
      k, v = tf.split(tf.matmul(context[:, None], weights["kv_kernel"])
                      + weights["kv_bias"], 2, axis=1)
    scores = tf.nn.softmax(
        tf.matmul(q * scale, k, transpose_b=True) + bias, axis=-1)
    scores = attention._dropout_layer(scores, training=training)
    output = attention._output_dense  # kernel [heads, key_dim, w]
    return tf.reduce_sum(tf.matmul(tf.matmul(scores, v), output.kernel),
                         axis=1) + output.bias

  def call(self, inputs: Mapping[str, tf.Tensor], training=None,
           correction_weight=None, attention_weights=None) -> tf.Tensor:
    self._validate(inputs)
    if attention_weights is None:
      attention_weights = self.attention_weights()
    query = tf.convert_to_tensor(inputs["query"], tf.float32)
    candidates = tf.convert_to_tensor(inputs["candidates"], tf.float32)
    scores = tf.convert_to_tensor(inputs["scores"], tf.float32)
    mask = tf.cast(inputs["mask"], tf.bool)

    # The token projection `[e_q ; e_j ; e_q * e_j ; r_q ; r_j ; s] W + b`,
    # by parts, so that nothing of the query is tiled over the list: the
    # query's parts once per query, `e_q * e_j` as `e_j diag(e_q) W`.
    residuals = [None if inputs.get(key) is None
                 else tf.cast(inputs[key], tf.float32)
                 for key in ("query_residual", "candidate_residuals")]
    d = query.shape[-1]
    sizes = [d, d, d] + [0 if r is None else r.shape[-1] for r in residuals]
    kernel = self._project.kernel
    w_q, w_c, w_qc, w_rq, w_rc = tf.split(kernel[:-1], sizes)
    query_part = tf.matmul(query, w_q) + self._project.bias
    x = (tf.matmul(candidates, w_c + query[:, :, None] * w_qc)
         + scores[..., None] * kernel[-1])
    if residuals[0] is not None:
      query_part += tf.matmul(residuals[0], w_rq)
    if residuals[1] is not None:
      x += tf.matmul(residuals[1], w_rc)
    x += query_part[:, None, :]

    # Every slot attends to the real slots only.
    bias = tf.where(mask, 0.0, PADDING_SCORE)[:, None, None, :]
    if self.use_history:
      history_mask = tf.cast(inputs["history_mask"], tf.bool)
      history = _norm(self._history_norm, _dense(
          self._history_project, tf.cast(inputs["history"], tf.float32)))
      # Every slot attends to the real history tokens; a user with none gets
      # no cross-attention output at all.
      history_bias = tf.where(history_mask, 0.0,
                              PADDING_SCORE)[:, None, None, :]
      has_history = tf.cast(tf.reduce_any(history_mask, axis=1),
                            tf.float32)[:, None, None]
    for i, block in enumerate(self._blocks):
      h = self._attend(block["attention"],
                       attention_weights[f"block{i}_attention"],
                       _norm(block["norm1"], x), None, bias, training)
      x = x + block["drop"](h, training=training)
      if self.use_history:
        h = self._attend(block["cross_attention"],
                         attention_weights[f"block{i}_cross_attention"],
                         _norm(block["norm_cross"], x), history, history_bias,
                         training)
        x = x + block["drop"](h * has_history, training=training)
      h = _dense(block["ffn_in"], _norm(block["norm2"], x))
      h = _dense(block["ffn_out"], block["drop"](h, training=training))
      x = x + block["drop"](h, training=training)
    logits = tf.squeeze(_dense(self._head_out, _dense(
        self._head_hidden, _norm(self._final_norm, x))), -1)
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
