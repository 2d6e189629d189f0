"""Delivery: put packages where Windows picks them up, and hand ODJ data to an offline image.

- :mod:`ppkgtool.deploy.targets` — USB/SD media root, an image's Recovery\\Customizations, ProgramData.
- :mod:`ppkgtool.deploy.unattend` — merge Microsoft-Windows-UnattendedJoin AccountData into unattend.xml.
- :mod:`ppkgtool.deploy.offlinejoin` — the registry route: offline join values in the image's SYSTEM hive.
"""
