"""Models: the LT-TTD `tfrs.Model` and its settings."""

from tfrs_ltttd.models.config import ModelConfig
from tfrs_ltttd.models.ltttd import LTTTDModel
