"""Orchestration across floors: the demo, and DICOM -> curate in memory -> predict -> measure.

Only :mod:`echomark.cli` imports this package; everything it calls lives on a lower floor.
"""
