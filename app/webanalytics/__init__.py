"""Web analytics: the Matomo / Google Analytics form, its stored choice, the portal's script."""
