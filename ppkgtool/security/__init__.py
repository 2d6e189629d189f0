"""Package security: catalogs (signing, Windows-like verification), Windows package encryption,
and CMS transport sealing. See docs/security.md."""
