"""jaxgan: train, compare and measure Generative Adversarial Networks in JAX/Flax.

Importing jaxgan changes nothing in the process: its XLA:CPU setting (jaxgan/xla_cpu.py) is
applied by the entry points (launch.py, benchmarks/, the tests), and by a notebook or script
with `jaxgan.xla_cpu.apply()` before it uses JAX.
"""

__version__ = "0.1.0"
