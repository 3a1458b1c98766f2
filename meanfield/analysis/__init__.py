"""Analysis on arrays: optimal-transport distances, circle distances, critical points and
certificates, the NTK, laziness diagnostics, two-layer linear networks."""
