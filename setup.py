"""Packaging for tfrs_ltttd.

TensorFlow comes with one of two named stacks, as an extra:

- `tf215` (Python 3.11): TF 2.15.1, TFRS 0.7.3, TF-Ranking 0.5.5, ScaNN 1.3.0,
  numpy < 2. The one set in which every design-card package imports:
  TF-Ranking needs TF < 2.16 (it imports tf.estimator) and ScaNN 1.3.0 pins
  TF ~= 2.15.0. The tests use TF-Ranking as the reference of the package's
  losses and metrics here. TF 2.15 has no wheels for Python >= 3.12.
- `tf220` (Python 3.11 to 3.13): TF 2.20.0, tf-keras 2.20.1 (Keras 2 as
  `tf.keras`, selected by `TF_USE_LEGACY_KERAS=1`, which the package sets),
  TFRS 0.7.7, ScaNN 1.4.2, numpy 2. ScaNN 1.4.2 requires TF ~= 2.20 (its ops
  fail to load on TF 2.21); TFRS refuses Keras 3; TF-Ranking does not import.
"""

import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent
_VERSION = {}
exec((_HERE / "tfrs_ltttd" / "version.py").read_text(), _VERSION)

STACKS = {
    "tf215": [
        "tensorflow==2.15.1",
        "tensorflow-recommenders==0.7.3",
        "tensorflow-ranking==0.5.5",
        "scann==1.3.0",
        "numpy>=1.23,<2",
        "pandas>=2.0,<3",
        "pyarrow>=14,<20",  # newer pyarrow needs numpy 2
    ],
    "tf220": [
        "tensorflow==2.20.0",
        "tf-keras==2.20.1",
        "tensorflow-recommenders==0.7.7",
        "scann==1.4.2",
        "numpy>=2,<3",
        "pandas>=2.2",
        "pyarrow>=14",
    ],
}

setuptools.setup(
    name="tfrs_ltttd",
    version=_VERSION["__version__"],
    description=(
        "LT-TTD: a listwise transformer re-ranker trained jointly with a "
        "two-tower retrieval model by distillation, for TensorFlow Recommenders."
    ),
    long_description=(_HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tfrs_ltttd", "tfrs_ltttd.*"]),
    python_requires=">=3.11,<3.14",
    install_requires=["matplotlib>=3.7,<4", "optuna>=4,<6"],
    extras_require={
        **STACKS,
        "test": ["pytest>=7", "nbformat>=5.9", "nbclient>=0.9",
                 "ipykernel>=6.25"],
        # Peers of the retrieval benchmark only, never needed by the package.
        "bench": ["faiss-cpu>=1.8", "hnswlib>=0.8"],
    },
    entry_points={"console_scripts": ["ltttd=tfrs_ltttd.cli:main"]},
    license="Apache-2.0",
)
