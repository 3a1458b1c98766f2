"""The network: m neurons as an empirical measure, its scalings and initialisations."""
