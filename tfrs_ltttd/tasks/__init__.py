"""Tasks: the joint LT-TTD objective."""

from tfrs_ltttd.tasks.ltttd import LTTTDTask
