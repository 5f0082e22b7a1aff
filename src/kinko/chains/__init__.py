"""Chain adapters: the ``Chain`` and ``Signer`` ports on real nodes and keys."""
