"""Analysis of packages: inspect, rank, resolve, diff, and the provisioning event log.

model.py holds the package view; inspect.py reads packages into it; rank.py and resolve.py apply
the precedence rule (docs/precedence.md); diff.py compares; report_html.py renders resolve's
report; eventlog.py explains Provisioning-Diagnostics-Provider/Admin exports.
"""
