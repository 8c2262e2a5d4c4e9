"""Trigger event -> order records.

FC hands the handler raw bytes. What they hold depends on the trigger: an HTTP trigger's ``v1``
request object, or, for a direct InvokeFunction call, the order itself. The kind is told from the
event's shape, because FC passes no trigger type.
"""

from .detect import DirectInvocation, HttpInvocation, Invocation, classify

__all__ = ["DirectInvocation", "HttpInvocation", "Invocation", "classify"]
