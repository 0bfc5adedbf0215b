"""Clinical measurements in mm: calibration, PLAX, A4C, cines, agreement statistics."""
