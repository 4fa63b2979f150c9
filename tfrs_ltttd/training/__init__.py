"""Training: the epoch loop, the decoupled cascade, either system by name,
backups, checkpoints and parameter-server clusters."""

from tfrs_ltttd.training import checkpoint, distribute
from tfrs_ltttd.training.backup import TrainingBackup
from tfrs_ltttd.training.cascade import train_cascade, train_reranker
from tfrs_ltttd.training.config import TrainConfig
from tfrs_ltttd.training.loop import (epoch_dataset, epoch_examples, fit,
                                      hard_candidates)
from tfrs_ltttd.training.systems import (RERANKER_EPOCHS, SYSTEM_NAMES, SYSTEMS,
                                         train_system)
