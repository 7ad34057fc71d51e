"""samtrain: SAM-family training on Ray Train (no Ray Tune knowledge here)."""
