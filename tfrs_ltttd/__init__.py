"""tfrs_ltttd: LT-TTD (Listwise Transformer with Two-Tower Distillation).

A two-tower retrieval model and a listwise transformer re-ranker trained
jointly, with knowledge distillation from the re-ranker to the towers, built
on TensorFlow Recommenders (arXiv 2505.04434).
"""

from tfrs_ltttd import _keras

_keras.select()

from tfrs_ltttd import data, evaluation, losses, training  # noqa: E402
from tfrs_ltttd.evaluation import baselines, metrics  # noqa: E402
from tfrs_ltttd.experiments import tuning  # noqa: E402
from tfrs_ltttd.layers import ItemTower, ListwiseTransformer, QueryTower  # noqa: E402
from tfrs_ltttd.models import LTTTDModel, ModelConfig  # noqa: E402
from tfrs_ltttd.training import TrainConfig, distribute  # noqa: E402
from tfrs_ltttd.tasks import LTTTDTask  # noqa: E402
from tfrs_ltttd.version import __version__  # noqa: E402

__all__ = [
    "ItemTower",
    "LTTTDModel",
    "LTTTDTask",
    "ListwiseTransformer",
    "ModelConfig",
    "QueryTower",
    "TrainConfig",
    "__version__",
]
