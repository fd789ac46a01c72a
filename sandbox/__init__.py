"""The embedded sandbox: local AWS (moto server) and local Kubernetes APIs (sandbox.k8s_*, with
discovery from kmock) seeded with a realistic estate, used by `cloudoptim demo`, the tests and the
benchmarks."""
