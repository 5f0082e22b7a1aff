"""The policy co-signer as a process of its own: its HTTP server and kinko's client of it.

``kinko cosign serve`` runs :func:`kinko.cosign.server.create_cosign_app` over a
:class:`~kinko.services.cosign.CosignService` (its own key, its own database, a read-only
view of kinko's); kinko's services ask it through the :class:`~kinko.ports.Cosigner` port,
for which :class:`kinko.cosign.client.HttpCosigner` is the adapter. Nothing here imports
kinko's REST API or dashboard: the co-signer's process carries only what it needs.
"""
