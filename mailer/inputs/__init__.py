"""What comes in: product feeds, customers and their histories, read into plain
typed records, bad rows reported and skipped (``feeds``, ``customers``,
``history``, ``products``)."""
