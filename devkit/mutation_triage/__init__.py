"""The explained survivors of the mutation run, one module per group of handler modules (see
``devkit.mutation_explained``): ``errors_and_auth`` (cas/errors, errors/values, ledger/guard, auth),
``order_flow`` (flows/place, new_order, retry), ``ledger_and_sweep`` (flows/reconcile, sweep, delivery,
the ledger and its stores), and for the run's second half ``ledger_core`` (ledger/base, record, new_order,
place) and ``sqlite_store``; for the V2.0 modules ``v2_leases_and_orders`` (ledger/lease, flows/lease,
flows/instance_order) ``reconcile_v2`` (flows/reconcile, new_order, place since V2.0) and ``instance_backend``
(ordering/instance). Each defines ``ENTRIES``."""
