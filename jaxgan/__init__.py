"""jaxgan: train, compare and measure Generative Adversarial Networks in JAX/Flax."""

__version__ = "0.1.0"
