"""Ranking metrics (numpy)."""

from tfrs_ltttd.metrics.ranking import dcg, mrr, ndcg_at_k, recall_at_k
