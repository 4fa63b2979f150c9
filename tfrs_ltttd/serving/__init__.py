"""Serving: the two-stage Recommender and its TF Serving export."""

from tfrs_ltttd.serving.export import custom_ops, decode_rest_request, export
from tfrs_ltttd.serving.recommender import Recommender, feature_specs
