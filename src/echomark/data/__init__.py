"""PyTorch datasets and image/label transforms (one 3x3 matrix for both)."""
