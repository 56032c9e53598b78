"""Test-session settings: one persistent compilation cache per session, so identical programs
built by different tests (same config, other tau/eps/seed values) compile once."""
import tempfile

import jax

jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="jsrpo-xla-cache-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
