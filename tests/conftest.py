"""Shared fixtures: small seeded synthetic data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfrs_ltttd.data import synthetic  # noqa: E402

tf.get_logger().setLevel("ERROR")


@pytest.fixture(scope="session")
def small_data():
  """300 users, 200 items: big enough to learn, small enough to be quick."""
  return synthetic.generate(synthetic.SyntheticConfig(
      num_users=300, num_items=200, interactions_per_user=12, seed=3))


@pytest.fixture(autouse=True)
def _seed():
  tf.keras.utils.set_random_seed(1234)
  np.random.seed(1234)


def assert_never_saw_test(datasets, data):
  """No split of any of `datasets` holds an interaction of `data.test`."""
  test_pairs = set(zip(data.test["user"].tolist(), data.test["item"].tolist()))
  assert datasets
  for d in datasets:
    pairs = set(zip(d.train["user"].tolist(), d.train["item"].tolist())) | set(
        zip(d.test["user"].tolist(), d.test["item"].tolist()))
    assert not pairs & test_pairs
