"""The flows an order goes through, one module each: placing it once (``place``, ``new_order``), the
paid call's retry policy (``retry``), delivery to the sinks (``delivery``), reconciliation
(``reconcile``), the sweep (``sweep``) and the dry run (``dry_run``).

Flows speak to CAS only through an ``OrderingBackend`` and write records only through ``Ledger``,
each write wrapped by ``casrelay.ledger.guard``.
"""
