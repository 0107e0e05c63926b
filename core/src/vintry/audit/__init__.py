"""The audit log of changes made under a delegated power."""
