"""DICOM reading, calibration, pixel and header de-identification, curation."""
