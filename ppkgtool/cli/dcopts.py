"""Options shared by every command that talks to a domain controller (odj provision, bulk).

--dc NAME is what the DC's certificate names; --dc-address IP connects there instead of resolving
the name (like curl --resolve) while the certificate is still checked against NAME.
"""

from __future__ import annotations

import argparse
import sys

from ppkgtool import add_secret_options, source_from_args


def add_dc_options(parser: argparse.ArgumentParser, *, method: bool = True) -> None:
    g = parser.add_argument_group("domain controller")
    g.add_argument("--dc", metavar="NAME", required=True,
                   help="the writable DC's DNS name (the name in its certificate), e.g. dc1.example.com")
    g.add_argument("--dc-address", metavar="IP",
                   help="connect to this address instead of resolving --dc; the certificate is still "
                        "verified against --dc")
    g.add_argument("--ca-file", metavar="PEM",
                   help="CA certificate(s) that issued the DC's certificate (default: the system store)")
    g.add_argument("--insecure", action="store_true",
                   help="do not verify the DC's certificate (still encrypted; prints a warning)")
    g.add_argument("--starttls", action="store_true", help="StartTLS on port 389 instead of LDAPS on 636")
    g.add_argument("--ldap-port", type=int, metavar="PORT", help="LDAP port (default 636, or 389 with --starttls)")
    g.add_argument("--timeout", type=float, default=15.0, metavar="SECONDS",
                   help="network timeout per operation (default 15)")
    g.add_argument("--user", "-U", metavar="USER", required=True,
                   help="who binds: user@REALM (simple bind) or DOMAIN\\user (NTLM)")
    g.add_argument("--auth", choices=("simple", "ntlm"),
                   help="bind method (default: simple for user@REALM, ntlm for DOMAIN\\user)")
    add_secret_options(g, prefix="password", what="password of --user")
    if method:
        g.add_argument("--method", choices=("ldap", "samr"), default="ldap",
                       help="create accounts over LDAP (default) or SAMR over SMB")


def target_from_args(args):
    from ppkgtool import DcTarget
    return DcTarget(name=args.dc, address=args.dc_address, ca_file=args.ca_file, insecure=args.insecure,
                    starttls=args.starttls, port=args.ldap_port, timeout=args.timeout)


def credentials_from_args(args):
    from ppkgtool import Credentials
    password = source_from_args(args, prefix="password", what=f"password for {args.user}").read()
    return Credentials(user=args.user, password=password, auth=args.auth)


def connect_from_args(args, *, domain: str | None = None, pool_size: int = 4, warn=None):
    """A DirectorySession from the parsed options (prompts for the password if needed)."""
    from ppkgtool import DirectorySession

    target = target_from_args(args)
    if target.insecure:
        text = (f"--insecure: the certificate of {target.name} is NOT verified; anyone on the path can "
                f"impersonate the DC and read the password")
        (warn or (lambda t: sys.stderr.write(f"warning: {t}\n")))(text)
    creds = credentials_from_args(args)
    return DirectorySession.connect(target, creds, getattr(args, "method", "ldap"), pool_size=pool_size,
                                    domain=domain)
