"""Offline evaluation: the two-stage protocol, baselines, metrics, diagnostics."""

from tfrs_ltttd.evaluation import baselines, metrics
from tfrs_ltttd.evaluation.diagnostics import list_positive_share
from tfrs_ltttd.evaluation.protocol import (evaluate, evaluate_scores, lifts,
                                            random_baseline, rerank)
