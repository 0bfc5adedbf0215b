"""Evaluation metrics (pure functions) and HTML report."""
