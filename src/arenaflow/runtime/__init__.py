"""The runtime: dispatcher, instance pools, executors, middleware."""
