"""Ranking metrics (numpy) and UPQE."""

from tfrs_ltttd.metrics.ranking import (dcg, irretrievable_rate, mrr,
                                        ndcg_at_k, recall_at_k)
from tfrs_ltttd.metrics.upqe import upqe
