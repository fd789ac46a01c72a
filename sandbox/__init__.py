"""The embedded sandbox: local AWS (moto server) and local Kubernetes APIs (kmock) seeded with a
realistic estate, used by `cloudoptim demo`, the tests and the benchmarks."""
