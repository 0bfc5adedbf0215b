"""Heatmap codec: encode labels to targets and weights, decode heatmaps to labels (numpy)."""
