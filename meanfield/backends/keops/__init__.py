"""The KeOps backend (GPU, or CPU where no GPU is present): the same formulas as the NumPy
reference, compiled by KeOps."""
