"""When and how a message leaves: planning, frequency caps, rate limits, the
worker and the queue of a campaign (``plan``, ``caps``, ``throttle``,
``worker``, ``delivery``, ``eventloop``)."""
