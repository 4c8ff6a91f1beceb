"""Who may do what: API tokens, portal sessions (JWT), and the owners a credential may read."""
