"""Metrics, confidence intervals and STL vs MTL comparison tables."""
