"""Use cases: each opens one transaction on the store and orchestrates the pure domain."""
