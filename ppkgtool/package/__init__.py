"""Provisioning package layer: metadata, customizations, the settings catalogue, the builder."""
