"""The execution side: how a run gets trained. The queue and the scheduler (one detached process
per data directory), worker processes, Ray, and the in-process path for tests and scripts."""
