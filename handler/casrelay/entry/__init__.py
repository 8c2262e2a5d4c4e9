"""Trigger adapters: one per kind of invocation (HTTP, direct, batch, timer), around the flows.

Each adapter turns its invocation into flow calls and the flow's result into the answer its
trigger expects; none of them orders, records or delivers anything itself.
"""
