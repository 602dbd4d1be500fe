"""Pure deciders of the candidatures service: campaigns, offers, candidatures, attribution, renewal.

Standard library and the contracts only: no I/O, no clock (``now`` arrives on each command).
"""
