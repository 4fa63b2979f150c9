import numpy as np
import pytest
import tensorflow as tf

from tfrs_ltttd.layers import ItemTower, QueryTower, describe_features


def _tower(**kwargs):
  return ItemTower({"item_id": [10, 11, 12], "color": ["red", "blue"]},
                   {"price": (5.0, 4.0)}, id_feature="item_id", output_dim=6,
                   embedding_dim=3, **kwargs)


FEATURES = {"item_id": tf.constant([10, 12, 99], tf.int64),
            "color": tf.constant(["red", "green", "blue"]),
            "price": tf.constant([1.0, 5.0, 9.0])}


def test_output_is_unit_norm_and_unknown_values_use_the_oov_bucket():
  out = _tower()(FEATURES)
  assert out.shape == (3, 6)
  np.testing.assert_allclose(tf.norm(out, axis=-1), 1.0, rtol=1e-5)


def test_residual_holds_the_side_features_only():
  tower = _tower()
  emb, residual = tower.embed_with_residual(FEATURES)
  assert tower.residual_dim == 3 + 1 == residual.shape[-1]
  # The standardised price sits in the residual: (x - 5) / sqrt(4).
  np.testing.assert_allclose(residual[:, -1], [-2.0, 0.0, 2.0])
  np.testing.assert_allclose(emb, tower(FEATURES))


def test_works_on_lists_of_features():
  tower = _tower()
  listed = {k: tf.stack([v, v]) for k, v in FEATURES.items()}
  np.testing.assert_allclose(tower(listed)[1], tower(FEATURES), atol=1e-6)


def test_config_round_trip_rebuilds_an_identical_tower():
  tower = _tower(hidden_units=(8, 4), dropout=0.1, activation="tanh")
  tower(FEATURES)
  config = tower.get_config()
  clone = ItemTower.from_config(config)
  clone(FEATURES)
  clone.set_weights(tower.get_weights())
  assert clone.get_config() == config
  np.testing.assert_allclose(clone(FEATURES), tower(FEATURES), atol=1e-6)
  # Serialisable by name through Keras.
  again = tf.keras.layers.deserialize(tf.keras.layers.serialize(tower))
  assert isinstance(again, ItemTower) and again.get_config() == config


def test_missing_feature_names_it():
  with pytest.raises(ValueError, match=r"\['price'\] missing"):
    _tower()({"item_id": FEATURES["item_id"], "color": FEATURES["color"]})


@pytest.mark.parametrize("kwargs,match", [
    ({"vocabularies": {}, "numeric": {}}, "at least one feature"),
    ({"vocabularies": {"a": [1]}, "id_feature": "b"}, "id_feature"),
    ({"vocabularies": {"a": [1]}, "output_dim": 0}, "output_dim"),
    ({"vocabularies": {"a": [1]}, "dropout": 1.0}, "dropout"),
])
def test_bad_arguments_name_the_field(kwargs, match):
  with pytest.raises(ValueError, match=match):
    QueryTower(**kwargs)


def test_describe_features_splits_by_dtype():
  vocab, numeric = describe_features({
      "id": np.array([3, 1, 3]), "tag": np.array(["b", "a"]),
      "x": np.array([1.0, 3.0], np.float32)})
  assert vocab == {"id": [1, 3], "tag": ["a", "b"]}
  assert numeric == {"x": (2.0, 1.0)}


def test_rare_flags_are_read_as_they_are():
  # A 0/1 flag one row in a thousand carries: standardised its 1 would be
  # ~31.6; as a flag it stays 1. A column that is not 0/1 is standardised.
  flag = np.zeros(1000, np.float32)
  flag[7] = 1.0
  _, numeric = describe_features({"genre_rare": flag,
                                  "price": np.array([0.0, 1.0, 2.0])})
  assert numeric["genre_rare"] == (0.0, 1.0)
  np.testing.assert_allclose(numeric["price"], (1.0, 2 / 3))
  tower = ItemTower({"item_id": [1, 2]}, numeric, id_feature="item_id",
                    output_dim=4, embedding_dim=2)
  out = tower.encode({"item_id": tf.constant([1, 2], tf.int64),
                      "genre_rare": tf.constant([1.0, 0.0]),
                      "price": tf.constant([2.0, 0.0])})
  np.testing.assert_allclose(out["residual"].numpy(),
                             [[1.0, (2 - 1) / (2 / 3) ** 0.5],
                              [0.0, (0 - 1) / (2 / 3) ** 0.5]], rtol=1e-6)


def test_a_first_call_on_length_one_lists_does_not_reshape_later_calls():
  tower = _tower()
  tower({k: tf.expand_dims(v, 1)[:1] for k, v in FEATURES.items()})  # [1, 1]
  assert tower(FEATURES).shape == (3, 6)


def test_history_shares_the_item_towers_id_table():
  items = _tower()
  users = QueryTower({"user_id": [1, 2]}, id_feature="user_id", output_dim=6,
                     embedding_dim=3, history_length=4,
                     history_item_tower=items)
  query = {"user_id": tf.constant([1, 2], tf.int64),
           "history_item_ids": tf.constant([[10, 12, -1, -1], [-1] * 4],
                                           tf.int64),
           "history_labels": tf.constant([[2.0, 1.0, 0.0, 0.0], [0.0] * 4])}
  items(FEATURES)
  out = users.encode(query)
  assert out["history"].shape == (2, 4, 3)
  np.testing.assert_array_equal(out["history_mask"],
                                [[True, True, False, False], [False] * 4])
  table = items._embeddings["item_id"].embeddings  # pylint: disable=protected-access
  assert any(w is table for w in users.weights)
  # Moving the item table moves the query embedding: one table, two towers.
  before = users(query).numpy()
  table.assign(table + 1.0)
  assert not np.allclose(users(query).numpy()[0], before[0])
  np.testing.assert_allclose(users(query).numpy()[1], before[1], atol=1e-6)
  with pytest.raises(ValueError, match="history_item_ids"):
    users({"user_id": query["user_id"]})
  with pytest.raises(ValueError, match="history_item_tower"):
    QueryTower({"user_id": [1]}, history_length=3)


def test_history_tower_config_round_trips():
  items = _tower()
  users = QueryTower({"user_id": [1, 2]}, id_feature="user_id", output_dim=6,
                     embedding_dim=3, history_length=4,
                     history_item_tower=items, history_heads=2)
  clone = QueryTower.from_config(users.get_config())
  assert clone.get_config() == users.get_config()
  assert clone.history_id_dtype == tf.int64
