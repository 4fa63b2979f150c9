import numpy as np
import pytest

from tfrs_ltttd.data import synthetic


def test_same_seed_same_data_other_seed_other_data():
  config = synthetic.SyntheticConfig(num_users=40, num_items=80, seed=5)
  a, b = synthetic.generate(config), synthetic.generate(config)
  c = synthetic.generate(synthetic.SyntheticConfig(num_users=40, num_items=80,
                                                   seed=6))
  for key in ("user", "item", "label"):
    np.testing.assert_array_equal(a.train[key], b.train[key])
  assert not np.array_equal(a.train["item"], c.train["item"])


def test_split_holds_out_each_users_last_interactions(small_data):
  d = small_data
  assert set(np.unique(d.test["user"])) == set(range(d.num_users))
  for u in range(0, d.num_users, 37):
    train = d.train["item"][d.train["user"] == u]
    test = d.test["item"][d.test["user"] == u]
    share = len(test) / (len(train) + len(test))
    assert 0.1 <= share <= 0.3
    assert not set(train) & set(test)  # a pick is never repeated


def test_picks_follow_the_planted_utility(small_data):
  d = small_data
  picked = d.utility[d.train["user"], d.train["item"]].mean()
  assert picked > d.utility.mean() + 1.0
  # Grade 2 goes to the picks a user values most.
  u = d.utility[d.train["user"], d.train["item"]]
  assert u[d.train["label"] == 2].mean() > u[d.train["label"] == 1].mean()


@pytest.mark.parametrize("field,value", [
    ("num_users", 0), ("interactions_per_user", 3), ("test_fraction", 1.0),
    ("temperature", 0.0)])
def test_bad_config_names_the_field(field, value):
  with pytest.raises(ValueError, match=field):
    synthetic.SyntheticConfig(**{field: value})
