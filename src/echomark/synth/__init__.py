"""Synthetic echocardiography cines and DICOMs with exact ground truth (numpy)."""
