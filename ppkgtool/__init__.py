"""ppkgtool: Windows provisioning packages (.ppkg) and offline domain join, on any OS."""

__version__ = "0.1.0"
