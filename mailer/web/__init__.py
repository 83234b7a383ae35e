"""HTTP edges of ``mailer``: the one-click unsubscribe endpoint (later,
tracking and preview)."""
