"""Remote DICOM sources (DICOMweb, DIMSE) that feed instances to curation."""
