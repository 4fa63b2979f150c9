"""Packaging for tfrs_ltttd.

The stack is pinned on purpose: tensorflow-ranking 0.5.5 needs TF < 2.16 (it
imports tf.estimator) and scann 1.3.0 pins TF ~= 2.15.0, so this is the one set
in which every package resolves and imports together.
"""

import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent
_VERSION = {}
exec((_HERE / "tfrs_ltttd" / "version.py").read_text(), _VERSION)

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
    python_requires=">=3.11,<3.12",
    install_requires=[
        "tensorflow==2.15.1",
        "tensorflow-recommenders==0.7.3",
        "tensorflow-ranking==0.5.5",
        "scann==1.3.0",
        "numpy>=1.23,<2",
        "matplotlib>=3.7,<4",
    ],
    extras_require={"test": ["pytest>=7", "nbformat>=5.9", "nbclient>=0.9",
                             "ipykernel>=6.25"]},
    entry_points={"console_scripts": ["ltttd=tfrs_ltttd.cli:main"]},
    license="Apache-2.0",
)
