"""Keras 2 as `tf.keras`, chosen once, before anything touches `tf.keras`.

TensorFlow Recommenders needs Keras 2. On TF 2.15 `tf.keras` is Keras 2; from
TF 2.16 it is Keras 3 unless `TF_USE_LEGACY_KERAS=1` is set before the first
use of `tf.keras` (importing TensorFlow alone does not bind it), and Keras 2
then comes from the `tf-keras` package. The
package's `__init__` calls `select()` first, so importing `tfrs_ltttd` before
`tf.keras` (or TFRS) is used is all a program has to do.
"""

from __future__ import annotations

import os
import sys


def select() -> None:
  """Makes `tf.keras` Keras 2, or says clearly why it cannot.

  Raises:
    ImportError: `tf.keras` was already bound to Keras 3.
  """
  if os.path.basename(sys.argv[0] if sys.argv else "") == "ltttd":
    # The command line hides TensorFlow's C++ start-up lines (oneDNN, CUDA,
    # TensorRT) unless the user asks for them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  major, minor = (int(p) for p in tf.__version__.split(".")[:2])
  if (major, minor) >= (2, 16):  # on 2.15 the variable would ask for tf-keras
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  version = str(getattr(tf.keras, "__version__", "2"))
  if version.startswith("3"):
    raise ImportError(
        "tfrs_ltttd needs Keras 2 as tf.keras (TensorFlow Recommenders does "
        f"not support Keras 3), but tf.keras is already Keras {version}. "
        "Set TF_USE_LEGACY_KERAS=1 in the environment, or import tfrs_ltttd "
        "before anything uses tf.keras, and install tf-keras.")
