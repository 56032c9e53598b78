"""jsrpo: strategically risk-averse policy optimisation (SRPO) and its baselines in JAX."""
