"""casrelay: order Alibaba Cloud SSL certificates from webhooks and queues on Function Compute 3.0.

Data flows one way, and each step has a module named after it:

    triggers/   trigger event  -> order records
    validation/ order record   -> validated order
    cas/        validated order -> signed CreateCertificateForPackageRequest -> placed order
    response.py placed order or error -> what the caller sees
    relay.py    the orchestrator that walks an invocation through those steps
"""

__version__ = "0.1.0"
