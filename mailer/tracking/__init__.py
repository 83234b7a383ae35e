"""Engagement tracking, the pure core: no HTTP server and no database here.

* :mod:`~mailer.tracking.links` — signed click and open-pixel tokens
  (``/c/<token>``, ``/o/<token>.gif``) with rotatable keys; the redirect
  destination lives in the signed token, so there is no open redirect.
* :mod:`~mailer.tracking.rewrite` — a rendered HTML part's links turned into
  click URLs, UTM parameters merged, a hidden honeypot link and the open pixel
  added (as text, or straight on the quoted-printable body).
* :mod:`~mailer.tracking.utm` — UTM parameters added to a link's destination.
* :mod:`~mailer.tracking.splice` — edits to a text made to its
  quoted-printable encoding, re-encoding only the lines they touch.
* :mod:`~mailer.tracking.hits` — what one request to the tracking endpoint
  records (the IP address truncated when it is captured).
* :mod:`~mailer.tracking.networks` — named IP ranges (Apple's relay, the link
  scanners of mail-security vendors) and the lookup of a truncated network.
* :mod:`~mailer.tracking.classify` — a message's hits judged ``human``,
  ``machine_open``, ``scanner`` or ``unknown``, each with a reason.
* :mod:`~mailer.tracking.consent` — whether a recipient's opens and clicks may
  be recorded per person or only as anonymous aggregates.
"""
