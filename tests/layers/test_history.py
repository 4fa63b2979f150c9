import numpy as np

from tfrs_ltttd.layers import HistoryEncoder


def _inputs(seed=0, batch=3, length=5, dim=4):
  rng = np.random.default_rng(seed)
  vectors = rng.normal(size=(batch, length, dim)).astype(np.float32)
  labels = rng.integers(0, 3, (batch, length)).astype(np.float32)
  mask = np.ones((batch, length), bool)
  return vectors, labels, mask


def test_pooling_is_a_masked_softmax_of_the_tokens():
  layer = HistoryEncoder(max_length=5, dim=4, num_labels=3)
  vectors, labels, mask = _inputs()
  mask[0, 3:] = False
  out = layer(vectors, labels, mask)
  tokens = out["tokens"].numpy()
  # Reference in numpy with the layer's own weights.
  w1, b1 = layer._attention_hidden.get_weights()  # pylint: disable=protected-access
  w2, b2 = layer._attention_logits.get_weights()  # pylint: disable=protected-access
  logits = (np.tanh(tokens @ w1 + b1) @ w2 + b2)[..., 0]
  logits = np.where(mask, logits, -np.inf)
  weights = np.exp(logits - logits.max(1, keepdims=True))
  weights /= weights.sum(1, keepdims=True)
  np.testing.assert_allclose(out["pooled"], np.einsum("bh,bhd->bd", weights,
                                                      tokens), atol=1e-5)


def test_padding_content_changes_nothing_and_empty_pools_to_zero():
  layer = HistoryEncoder(max_length=6, dim=4)
  vectors, labels, mask = _inputs(length=6)
  mask[:, 4:] = False
  mask[2] = False
  other = vectors.copy()
  other[:, 4:] = 50.0
  other[2] = -7.0
  a, b = layer(vectors, labels, mask), layer(other, labels, mask)
  np.testing.assert_allclose(a["pooled"], b["pooled"], atol=1e-6)
  np.testing.assert_array_equal(a["pooled"][2], np.zeros(4))


def test_longer_histories_keep_the_most_recent_and_config_round_trips():
  layer = HistoryEncoder(max_length=3, dim=4, num_heads=2)
  vectors, labels, mask = _inputs(length=5)
  out = layer(vectors, labels, mask)
  assert out["tokens"].shape == (3, 3, 4) and out["pooled"].shape == (3, 8)
  np.testing.assert_allclose(
      out["pooled"], layer(vectors[:, :3], labels[:, :3], mask[:, :3])[
          "pooled"], atol=1e-6)
  clone = HistoryEncoder.from_config(layer.get_config())
  clone(vectors, labels, mask)
  clone.set_weights(layer.get_weights())
  np.testing.assert_allclose(clone(vectors, labels, mask)["pooled"],
                             out["pooled"], atol=1e-6)


def test_bad_arguments_name_the_field():
  import pytest  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="max_length"):
    HistoryEncoder(max_length=0, dim=4)
