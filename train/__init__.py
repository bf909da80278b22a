"""Training stage (repository tool, run from a checkout): `python -m train fit|evaluate|gradcam`.

Importing this package imports nothing heavy (TensorFlow loads only inside the commands).
"""
