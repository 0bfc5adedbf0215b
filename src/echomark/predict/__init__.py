"""Batched inference with torch or onnxruntime, overlays."""
