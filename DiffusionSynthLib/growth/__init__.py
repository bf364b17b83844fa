"""Tumour growth: tissue classes, a Fisher-Kolmogorov solver in millimetres, calibration, longitudinal pairs.

Nothing here imports torch: the physics is NumPy/SciPy, so a forecast runs in seconds on a CPU.
"""
