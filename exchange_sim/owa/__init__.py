"""Outlook Web Access 2003 pages the simulator serves: forms login and `?Cmd=` commands."""
