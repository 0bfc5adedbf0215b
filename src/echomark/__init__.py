"""echomark: AI on echocardiograms in the Unity Imaging dataset format."""

__version__ = "0.1.0"
