"""The lifecycle follower (``base.Follower``): after the paid call, every placed order is polled on the sweep
until its certificate is issued or it failed, each phase announced once, DNS validation optionally automated
(``dns/``). Its settings are in ``config``, its failures in ``exceptions``, what it keeps per order in ``state``.
"""
