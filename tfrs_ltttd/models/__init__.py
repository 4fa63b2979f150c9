"""Models: LT-TTD."""

from tfrs_ltttd.models.ltttd import LTTTDModel
