"""Experiments: settings chosen on validation, LT-TTD against the cascade and
the baselines, and the report (`ltttd evaluate`)."""

from tfrs_ltttd.experiments import compare, report, tuning
