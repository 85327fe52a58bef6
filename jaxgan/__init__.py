"""jaxgan: train, compare and measure Generative Adversarial Networks in JAX/Flax."""
from jaxgan import xla_cpu as _xla_cpu

_xla_cpu.apply()  # before anything starts JAX's backend: XLA reads XLA_FLAGS only then

__version__ = "0.1.0"
