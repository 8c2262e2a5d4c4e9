"""casrelay: order Alibaba Cloud SSL certificates from webhooks and queues on Function Compute 3.0.

Data flows one way, and each step has a room named after it:

    triggers/    trigger event   -> order records
    validation/  order record    -> validated order
    flows/       validated order -> ledger -> paid call (ordering/, cas/) -> push (push/)
    response.py  placed order or error -> what the caller sees
    entry/       one adapter per trigger around the flows; app.py builds them all

README's "Layout" draws the layers; tests/contract/test_layers.py holds every import to them.
"""

__version__ = "0.1.0"
