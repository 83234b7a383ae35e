"""What a message says: money and dates in the customer's locale, catalogs,
layouts compiled once, per-recipient rendering and MIME bytes (``localise``,
``money``, ``catalogs``, ``layouts``, ``render``, ``views``, ``mime``,
``compose``)."""
