"""`calbridge check`: verify a configuration against the real Exchange server and this machine.

Parts: `findings` (pure: the verdict and the fix for each row, the table), `probes` (the I/O:
connect, TLS, logon probe, login, discovery, free/busy, CalDAV port), `command` (the click
command `bridge.cli` registers).
"""
