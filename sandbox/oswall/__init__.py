"""The OS wall around a worker, one module per layer (see sandbox/harden.py for the order)."""
