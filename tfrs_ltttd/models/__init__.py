"""Models: LT-TTD and the decoupled cascade baseline."""

from tfrs_ltttd.models.cascade import train_cascade
from tfrs_ltttd.models.ltttd import LTTTDModel
