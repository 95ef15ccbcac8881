"""cyclegan: turn CycleGAN folklore into evidence.

A YAML study declares factors, levels and hypotheses; the package trains every cell of the
matrix with one shared model/trainer core, tracks it in MLflow, scores it with artifact and
sharpness metrics and prints a verdict per hypothesis.
"""

__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it); runs record it
