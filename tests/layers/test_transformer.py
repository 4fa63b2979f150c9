import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd.layers import PADDING_SCORE, ListwiseTransformer


def _inputs(batch=2, length=5, dim=4, seed=0, residual=True):
  rng = np.random.default_rng(seed)
  x = {
      "query": rng.normal(size=(batch, dim)).astype(np.float32),
      "candidates": rng.normal(size=(batch, length, dim)).astype(np.float32),
      "scores": rng.normal(size=(batch, length)).astype(np.float32),
      "mask": np.ones((batch, length), bool),
  }
  if residual:
    x["query_residual"] = rng.normal(size=(batch, 3)).astype(np.float32)
    x["candidate_residuals"] = rng.normal(size=(batch, length, 2)).astype(
        np.float32)
  return x


def _layer(**kwargs):
  return ListwiseTransformer(num_layers=2, num_heads=2, width=8, dropout=0.0,
                             **kwargs)


def _assert_equivariant(layer, x):
  perm = np.array([3, 0, 4, 1, 2])
  permuted = {k: (v[:, perm] if k in ("candidates", "scores", "mask",
                                      "candidate_residuals") else v)
              for k, v in x.items()}
  np.testing.assert_allclose(layer(permuted), tf.gather(layer(x), perm,
                                                        axis=1), atol=1e-5)


def test_permutation_equivariant_over_candidates():
  _assert_equivariant(_layer(), _inputs())


def test_padding_content_changes_nothing_for_real_candidates():
  layer, x = _layer(), _inputs(length=6)
  x["mask"][:, 4:] = False
  y = {k: v.copy() for k, v in x.items()}
  rng = np.random.default_rng(9)
  for key in ("candidates", "scores", "candidate_residuals"):
    y[key][:, 4:] = 100 * rng.normal(size=y[key][:, 4:].shape)
  a, b = layer(x).numpy(), layer(y).numpy()
  np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-5)
  np.testing.assert_array_equal(a[:, 4:], PADDING_SCORE)
  # ... and equals the same list with the padding cut off.
  cut = {k: (v[:, :4] if v.ndim >= 2 and v.shape[1] == 6 else v)
         for k, v in x.items()}
  np.testing.assert_allclose(layer(cut), a[:, :4], atol=1e-5)


def test_candidates_interact_across_the_list():
  layer, x = _layer(), _inputs()
  y = {k: v.copy() for k, v in x.items()}
  y["candidates"][:, 4] += 1.0
  changed = np.abs(layer(x).numpy()[:, :4] - layer(y).numpy()[:, :4])
  assert changed.max() > 1e-4


def test_default_constructor_works_for_any_dim_and_length():
  layer = ListwiseTransformer()
  assert layer(_inputs(dim=4, length=3, residual=False)).shape == (2, 3)
  assert layer(_inputs(dim=4, length=9, residual=False)).shape == (2, 9)
  assert ListwiseTransformer()(_inputs(dim=16, length=7)).shape == (2, 7)


def test_config_round_trip_rebuilds_an_identical_layer():
  layer, x = _layer(activation="relu", ffn_width=12), _inputs()
  layer(x)
  clone = ListwiseTransformer.from_config(layer.get_config())
  clone(x)
  clone.set_weights(layer.get_weights())
  assert clone.get_config() == layer.get_config()
  np.testing.assert_allclose(clone(x), layer(x), atol=1e-6)


def test_dropout_only_in_training():
  layer, x = ListwiseTransformer(width=8, num_heads=2, dropout=0.5), _inputs()
  np.testing.assert_allclose(layer(x), layer(x, training=False))
  assert not np.allclose(layer(x, training=True), layer(x, training=True))


@pytest.mark.parametrize("change,match", [
    (lambda x: x.pop("mask"), r"missing \['mask'\]"),
    (lambda x: x.update(mask=None), r"missing \['mask'\]"),
    (lambda x: x.update(query=np.ones((2, 3), np.float32)),
     "dimension mismatch.*d=3.*d=4"),
    (lambda x: x.update(scores=np.ones((2, 4), np.float32)),
     "list length mismatch: 'scores' has L=4.*L=5"),
    (lambda x: x.update(mask=np.ones((2, 6), bool)),
     "list length mismatch: 'mask'"),
    (lambda x: x.update(candidates=np.ones((2, 4), np.float32)),
     "'candidates' must have rank 3"),
])
def test_bad_input_names_the_field(change, match):
  x = _inputs()
  change(x)
  with pytest.raises(ValueError, match=match):
    _layer()(x)


def test_bad_arguments():
  with pytest.raises(ValueError, match="multiple of num_heads"):
    ListwiseTransformer(width=10, num_heads=4)
  with pytest.raises(ValueError, match="num_layers"):
    ListwiseTransformer(num_layers=0)


def _history_inputs(seed=0, batch=2, length=5, history=4, dim=4):
  x = _inputs(batch, length, dim, seed)
  rng = np.random.default_rng(seed + 100)
  x["history"] = rng.normal(size=(batch, history, 6)).astype(np.float32)
  x["history_mask"] = np.ones((batch, history), bool)
  return x


def test_history_cross_attention_keeps_equivariance_and_is_padding_blind():
  layer, x = _layer(use_history=True), _history_inputs()
  _assert_equivariant(layer, x)
  # The history is a set too: permuting it changes nothing.
  shuffled = dict(x, history=x["history"][:, ::-1])
  np.testing.assert_allclose(layer(shuffled), layer(x), atol=1e-5)
  # Padded history tokens are ignored, whatever they hold.
  x["history_mask"][:, 2:] = False
  y = dict(x, history=x["history"].copy())
  y["history"][:, 2:] = 100.0
  np.testing.assert_allclose(layer(x), layer(y), atol=1e-5)
  cut = dict(x, history=x["history"][:, :2], history_mask=x["history_mask"][:, :2])
  np.testing.assert_allclose(layer(x), layer(cut), atol=1e-5)


def test_history_matters_and_an_empty_one_adds_nothing():
  layer, x = _layer(use_history=True), _history_inputs()
  other = dict(x, history=x["history"] + 1.0)
  assert not np.allclose(layer(x), layer(other), atol=1e-4)
  empty = dict(x, history_mask=np.zeros_like(x["history_mask"]))
  plain = _layer()
  plain(x)
  layer(empty)
  # Copy the shared weights: the history-free layer is the same network
  # without the cross-attention.
  shared = {w.name.split("/", 1)[1]: w for w in layer.weights}
  for w in plain.weights:
    w.assign(shared[w.name.split("/", 1)[1]])
  np.testing.assert_allclose(layer(empty), plain(x), atol=1e-5)


def test_history_config_round_trip_and_missing_history_is_named():
  layer, x = _layer(use_history=True), _history_inputs()
  want = layer(x)
  clone = ListwiseTransformer.from_config(layer.get_config())
  clone(x)
  clone.set_weights(layer.get_weights())
  np.testing.assert_allclose(clone(x), want, atol=1e-6)
  with pytest.raises(ValueError, match="history"):
    layer({k: v for k, v in x.items() if not k.startswith("history")})


@pytest.mark.parametrize("score_residual", [True, False])
def test_the_correction_weight_blends_the_towers_and_the_reranker(
    score_residual):
  layer, x = _layer(score_residual=score_residual), _inputs()
  x["mask"][1, 3:] = False
  full = layer(x).numpy()  # the variable starts at 1
  real = x["mask"]
  for weight in (0.0, 0.3, 1.7):
    want = x["scores"] + weight * (full - x["scores"])
    got = layer(x, correction_weight=weight).numpy()
    np.testing.assert_allclose(got[real], want[real], rtol=1e-5, atol=1e-5)
    assert np.all(got[~real] == PADDING_SCORE)
  layer.set_correction_weight(0.0)  # served: the towers' own scores
  np.testing.assert_allclose(layer(x).numpy()[real], x["scores"][real])
  np.testing.assert_allclose(layer(x, correction_weight=1.0), full,
                             atol=1e-6)
  ids = lambda weights: {id(w) for w in weights}  # noqa: E731
  assert id(layer.correction_weight) not in ids(layer.trainable_weights)
  assert id(layer.correction_weight) in ids(layer.weights)  # it is saved


@pytest.mark.parametrize("bad", [float("nan"), -0.5, float("inf")])
def test_a_bad_correction_weight_is_refused(bad):
  layer = _layer()
  with pytest.raises(ValueError, match="call the layer once"):
    layer.set_correction_weight(0.5)
  layer(_inputs())
  with pytest.raises(ValueError, match="correction_weight must be a finite "
                     "number >= 0"):
    layer.set_correction_weight(bad)
  assert float(layer.correction_weight.numpy()) == 1.0


def _keras_attention_reference(layer, x, training=False):
  """The layer's function written plainly: the whole token concatenated and
  tiled over the list, and Keras' own `MultiHeadAttention` calls."""
  x = {k: tf.convert_to_tensor(v) for k, v in x.items()}
  mask = tf.cast(x["mask"], bool)
  length = tf.shape(x["candidates"])[1]
  tile = lambda t: tf.tile(t[:, None, :], [1, length, 1])  # noqa: E731
  parts = [tile(x["query"]), x["candidates"],
           tile(x["query"]) * x["candidates"]]
  if "query_residual" in x:
    parts += [tile(x["query_residual"]), x["candidate_residuals"]]
  h = layer._project(tf.concat(parts + [x["scores"][..., None]], -1))
  self_mask = mask[:, None, :] & tf.ones_like(mask)[:, :, None]
  if layer.use_history:
    history = layer._history_norm(layer._history_project(x["history"]))
    history_mask = tf.cast(x["history_mask"], bool)
    cross_mask = history_mask[:, None, :] & tf.ones_like(mask)[:, :, None]
    has = tf.cast(tf.reduce_any(history_mask, 1), tf.float32)[:, None, None]
  for block in layer._blocks:
    n = block["norm1"](h)
    h += block["attention"](n, n, attention_mask=self_mask, training=training)
    if layer.use_history:
      h += has * block["cross_attention"](
          block["norm_cross"](h), history, attention_mask=cross_mask,
          training=training)
    h += block["ffn_out"](block["ffn_in"](block["norm2"](h)))
  head = tf.squeeze(layer._head_out(layer._head_hidden(
      layer._final_norm(h))), -1)
  scores = x["scores"] + (head if layer.score_residual
                          else head - x["scores"])
  return tf.where(mask, scores, PADDING_SCORE)


@pytest.mark.parametrize("history", [False, True])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("score_residual", [True, False])
def test_the_fused_graph_computes_what_keras_attention_computes(
    history, residual, score_residual):
  layer = ListwiseTransformer(num_layers=2, num_heads=4, width=16,
                              dropout=0.0, use_history=history,
                              score_residual=score_residual)
  x = (_history_inputs() if history else _inputs(batch=3, length=7, dim=6,
                                                  residual=residual))
  if history and not residual:
    x = {k: v for k, v in x.items() if "residual" not in k}
  x["mask"][1, 2:] = False
  if history:
    x["history_mask"][0] = False  # a user with no history
  layer(x)
  for w in layer.trainable_weights:  # far from the initial biases of 0
    w.assign(w + tf.random.stateless_normal(w.shape, [1, len(w.name)], 0.3))
  real = x["mask"]
  np.testing.assert_allclose(layer(x).numpy()[real],
                             _keras_attention_reference(layer, x).numpy()[real],
                             rtol=1e-4, atol=1e-4)
  # And the same gradients, so training is unchanged too.
  grads = []
  for forward in (layer, _keras_attention_reference):
    with tf.GradientTape() as tape:
      out = (forward(x, training=True) if forward is layer
             else forward(layer, x, training=True))
      loss = tf.reduce_sum(tf.where(real, tf.sin(out), 0.0))
    grads.append(tape.gradient(loss, layer.trainable_weights))
  for weight, got, want in zip(layer.trainable_weights, *grads):
    # float32 sums in another order: equal to 0.1 % of the largest entry
    # (the keys' bias, which softmax cancels, has gradients of noise only).
    np.testing.assert_allclose(got, want, rtol=0,
                               atol=max(1e-3 * np.abs(want).max(), 1e-4),
                               err_msg=weight.name)


def test_stored_attention_weights_are_what_the_layer_reads():
  layer = ListwiseTransformer(num_layers=2, num_heads=2, width=8,
                              dropout=0.0, use_history=True)
  x = _history_inputs()
  with pytest.raises(ValueError, match="call the layer once"):
    layer.attention_weights()
  derived = layer(x).numpy()
  stored = tf.nest.map_structure(tf.Variable, layer.attention_weights())
  assert sorted(stored) == ["block0_attention", "block0_cross_attention",
                            "block1_attention", "block1_cross_attention"]
  assert stored["block0_attention"]["qkv_kernel"].shape == (6, 8, 4)
  assert stored["block0_cross_attention"]["kv_bias"].shape == (4, 1, 4)
  np.testing.assert_array_equal(layer(x, attention_weights=stored), derived)
  # The stored copy is read, not the sublayers' weights: a change to one
  # moves the scores, a change to the other does not.
  stored["block1_cross_attention"]["q_kernel"].assign_add(
      tf.random.stateless_normal([2, 8, 4], [0, 1]))
  assert not np.allclose(layer(x, attention_weights=stored), derived)
  kernel = layer._blocks[1]["cross_attention"]._query_dense.kernel
  kernel.assign_add(tf.random.stateless_normal(kernel.shape, [0, 2]))
  np.testing.assert_array_equal(
      layer(x, attention_weights=layer.attention_weights()),
      layer(x).numpy())
  assert not np.allclose(layer(x), derived)
