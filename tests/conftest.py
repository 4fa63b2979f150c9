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
