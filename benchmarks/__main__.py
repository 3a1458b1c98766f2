"""``python -m benchmarks [args]`` from a checkout: the same as ``meanfield bench [args]``."""
from .groups import main

raise SystemExit(main())
