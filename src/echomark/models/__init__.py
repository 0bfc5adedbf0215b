"""HRNet keypoint and curve network, variants as data (torch)."""
