"""Where a dealer's connector may reach.

A dealer's admin types the connector's settings; the operator decides where connectors may go, and
in a multi-dealer installation an admin of one dealer is not trusted with the others:

- **Files** (the files connector's folders, the sql connector's SQLite file) are relative paths
  inside the dealer's folder, ``<BOXES_CONNECTOR_ROOT>/<dealer code>/``. An absolute path, ``..``,
  or anything whose real path (symlinks followed) leaves that folder is refused.
- **Network** (the http/simulator feed, the sql connector's server): when the operator sets
  ``BOXES_CONNECTOR_ALLOWED_HOSTS`` (``host[:port]`` names and CIDRs), only those. A name entry
  trusts that name (the operator's DNS); a CIDR entry is checked on the address actually connected,
  so a name that resolves elsewhere at run time (DNS rebinding) gets nowhere. Empty: any address
  (a single-dealer installation, where the admin is the operator).
- **Databases**: never Boxes' own (however its address is spelled: host names are resolved, the
  default port written out or not, the driver named either way; a SQLite file by its real path),
  nor the database another dealer's connector reads with the same user, nor another dealer's feed
  with the same client id.

:class:`OutOfBounds` is a :class:`ConfigurationError` (a run with such a setting fails and is not
retried); its ``field`` and ``reason`` let Integrations → DMS show a translated message next to the
field at save time. The same checks run at save time and in every run (a row saved before these
rules, or edited in the database, is refused too).
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from boxes.dms.connectors.base import ConfigurationError

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "http": 80, "https": 443}
# Query options a database address may carry. Everything else could point the driver somewhere
# else (libpq ``host``/``hostaddr``/``service``, MySQL ``unix_socket``/``read_default_file``), switch
# the session's limits back off (libpq ``options``), or read files of this server (client
# certificates, MySQL ``local_infile``).
URL_OPTIONS = frozenset({"sslmode", "application_name", "charset"})
FAMILIES = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}

# Why a setting is refused (admin.REASONS translates each one).
ABSOLUTE = "absolute"  # an absolute path or "..": folders are relative to the dealer's folder
OUTSIDE = "outside"  # the real path leaves the dealer's folder
HOST_NOT_ALLOWED = "host_not_allowed"
OWN_DATABASE = "own_database"
OTHER_DEALER = "other_dealer"
UNSUPPORTED = "unsupported"  # not a database Boxes can open read-only
URL_OPTION = "url_option"
BAD_ADDRESS = "bad_address"


class OutOfBounds(ConfigurationError):
    """A setting names something outside the dealer's reach."""

    def __init__(self, field_name: str, reason: str, message: str, **params):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = reason
        self.params = params


# ------------------------------------------------------------------------------ allow-list

@dataclass(frozen=True)
class Allowed:
    """One entry of BOXES_CONNECTOR_ALLOWED_HOSTS: a host name (with or without a port) or a network."""

    name: str | None = None
    port: int | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    @classmethod
    def parse(cls, entry: str) -> Allowed:
        try:
            return cls._parse(entry)
        except ValueError:
            raise ValueError(f"BOXES_CONNECTOR_ALLOWED_HOSTS: {entry.strip()!r} is not a host, host:port, "
                             "address or CIDR") from None

    @classmethod
    def _parse(cls, entry: str) -> Allowed:
        text = entry.strip().lower()
        try:
            if "/" in text:
                return cls(network=ipaddress.ip_network(text, strict=False))
            return cls(network=ipaddress.ip_network(text.strip("[]")))  # one address
        except ValueError:
            pass
        host, port = text, None
        if text.startswith("["):  # [v6]:port
            host, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else None
            return cls(network=ipaddress.ip_network(host), port=port)
        if text.count(":") == 1:
            host, _, number = text.partition(":")
            port = int(number)
            try:
                return cls(network=ipaddress.ip_network(host), port=port)
            except ValueError:
                pass
        if not host or not re.fullmatch(r"[a-z0-9._-]+", host) or (port is not None and not 0 < port < 65536):
            raise ValueError(entry)
        return cls(name=host.rstrip("."), port=port)

    def names(self, host: str, port: int) -> bool:
        return self.name is not None and self.name == host and self.port in (None, port)

    def contains(self, address: str, port: int) -> bool:
        return self.network is not None and _ip(address) in self.network and self.port in (None, port)


def _ip(address: str):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _norm_host(host: str) -> str:
    return host.strip().strip("[]").lower().rstrip(".")


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to now (an IP literal is itself). Whatever an admin typed
    that names no host (not encodable, a port out of range) is an OSError like an unknown name."""
    try:
        infos = socket.getaddrinfo(_norm_host(host), port, type=socket.SOCK_STREAM)
    except (UnicodeError, ValueError, OverflowError) as exc:
        raise OSError(str(exc)) from None
    return sorted({info[4][0] for info in infos})


# ---------------------------------------------------------------------------- boundaries

@dataclass(frozen=True)
class DatabaseTarget:
    """What a database address reaches, spelled one way: the same database compares equal
    whatever host name, port notation or driver the address uses."""

    family: str
    database: str  # the database name, or a SQLite file's real path
    port: int | None = None
    places: frozenset = frozenset()  # resolved addresses; "local" for this machine
    user: str | None = None

    def same_database(self, other: DatabaseTarget) -> bool:
        if self.family != other.family or self.database != other.database:
            return False
        if self.family == "sqlite":
            return True
        return self.port == other.port and bool(self.places & other.places)


@dataclass
class Boundaries:
    """The reach of one dealer's connector: its folder, the operator's allow-list, Boxes' own
    database, and what the other dealers' connectors read."""

    root: Path
    dealer_code: str
    allowed: tuple[Allowed, ...] = ()
    own_database: str | None = None  # Boxes' own database URL
    own_identity: tuple | None = None  # (server id, database) of Boxes' own PostgreSQL database
    sql_timeout_seconds: float = 300.0
    others: tuple = ()  # (kind, settings, secrets) of the other dealers' connectors
    _local: frozenset | None = field(default=None, repr=False)

    @classmethod
    def of(cls, config, dealer_code: str, *, own_database: str | None = None, own_identity=None,
           others: Iterable = ()) -> Boundaries:
        return cls(root=Path(config.connectors_root), dealer_code=dealer_code,
                   allowed=tuple(Allowed.parse(e) for e in config.connector_allowed_hosts if e.strip()),
                   own_database=own_database or config.database_url, own_identity=own_identity,
                   sql_timeout_seconds=float(config.connector_sql_timeout_seconds), others=tuple(others))

    # ---------------------------------------------------------------------------- files
    @property
    def folder(self) -> Path:
        """The dealer's folder, ``<root>/<dealer code>`` (its real path)."""
        if not CODE.fullmatch(self.dealer_code or ""):
            raise OutOfBounds("inbox", OUTSIDE, "the dealer's code cannot name a folder")
        return (self.root.resolve() / self.dealer_code).resolve()

    def path(self, relative: str, field_name: str) -> Path:
        """``relative`` inside the dealer's folder, as a real path; refused when it is absolute,
        climbs with ``..`` or, symlinks followed, ends outside the folder."""
        text = str(relative or "").strip()
        parts = PurePosixPath(text.replace("\\", "/")).parts
        if not text or text.startswith(("/", "\\", "~")) or os.path.isabs(text) or ".." in parts:
            raise OutOfBounds(field_name, ABSOLUTE, "use a folder inside the dealer's connector folder")
        folder = self.folder
        real = (folder / text).resolve()
        if real != folder and folder not in real.parents:
            raise OutOfBounds(field_name, OUTSIDE, "the path leaves the dealer's connector folder")
        return real

    def inside(self, path: Path) -> bool:
        """Whether an existing file's real path is inside the dealer's folder."""
        folder = self.folder
        real = path.resolve()
        return folder in real.parents

    # -------------------------------------------------------------------------- network
    def check_host(self, host: str, port: int, field_name: str) -> None:
        """Save time (and before connecting): the host is on the allow-list by name, or every
        address it resolves to now is in an allowed network."""
        if not self.allowed:
            return
        name = _norm_host(host)
        if any(a.names(name, port) for a in self.allowed):
            return
        try:
            addresses = resolve(name, port)
        except OSError:
            addresses = []
        if not addresses or not all(self.address_allowed(a, port) for a in addresses):
            raise OutOfBounds(field_name, HOST_NOT_ALLOWED, "the operator does not allow connections to this address "
                              "(BOXES_CONNECTOR_ALLOWED_HOSTS)", host=name)

    def name_allowed(self, host: str, port: int) -> bool:
        return not self.allowed or any(a.names(_norm_host(host), port) for a in self.allowed)

    def address_allowed(self, address: str, port: int) -> bool:
        return not self.allowed or any(a.contains(address, port) for a in self.allowed)

    # ------------------------------------------------------------------------------ http
    def check_feed(self, base_url: str, client_id: str | None, field_name: str = "base_url") -> None:
        try:
            parts = urlsplit(base_url)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        except ValueError:  # "http://[", a port that is not a number
            raise OutOfBounds(field_name, BAD_ADDRESS, "not a valid address") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutOfBounds(field_name, BAD_ADDRESS, "an http:// or https:// address is required")
        self.check_host(parts.hostname, port, field_name)
        mine = (_feed_key(base_url), client_id or "")
        for kind, settings, _secrets in self.others:
            if kind in ("http", "simulator") and settings.get("base_url") and (
                    _feed_key(settings["base_url"]), settings.get("client_id") or "") == mine:
                raise OutOfBounds(field_name, OTHER_DEALER, "another dealer's connector reads this feed")

    # ------------------------------------------------------------------------------- sql
    def database(self, url: str, field_name: str = "url"):
        """The parsed URL (``sqlalchemy.engine.URL``) once it is a database this dealer may read;
        for SQLite its ``database`` is the real path inside the dealer's folder."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
            parsed.port  # noqa: B018 - a port that is not a number raises here, not later
        except (ArgumentError, ValueError, TypeError):
            raise OutOfBounds(field_name, BAD_ADDRESS, "not a database address") from None
        family = FAMILIES.get(parsed.get_backend_name())
        if family is None:
            raise OutOfBounds(field_name, UNSUPPORTED, "Boxes reads PostgreSQL, MySQL/MariaDB and SQLite databases")
        extra = sorted(set(parsed.query) - URL_OPTIONS)
        if extra:
            raise OutOfBounds(field_name, URL_OPTION, f"the address may not carry the option {extra[0]}",
                              option=extra[0])
        if family == "sqlite":
            if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
                raise OutOfBounds(field_name, BAD_ADDRESS, "give the path of the DMS's SQLite file")
            own = self._target(self.own_database)
            real = Path(parsed.database)
            candidate = (real if real.is_absolute() else self.folder / real).resolve()
            if own is not None and own.family == "sqlite" and own.database == str(candidate):
                raise OutOfBounds(field_name, OWN_DATABASE, "this is Boxes' own database")
            if real.is_absolute():
                folder = self.folder
                if folder not in candidate.parents:
                    raise OutOfBounds(field_name, OUTSIDE, "the file is outside the dealer's connector folder")
            else:
                candidate = self.path(parsed.database, field_name)
            return parsed.set(database=str(candidate))
        if not parsed.host or not parsed.database:
            raise OutOfBounds(field_name, BAD_ADDRESS, "the address needs a host and a database name")
        port = parsed.port or DEFAULT_PORTS[family]
        self.check_host(parsed.host, port, field_name)
        target = self._target(parsed)
        own = self._target(self.own_database)
        if own is not None and target.same_database(own):
            raise OutOfBounds(field_name, OWN_DATABASE, "this is Boxes' own database")
        for kind, _settings, secrets in self.others:
            other = self._target(secrets.get("url")) if kind == "sql" else None
            if other is not None and target.same_database(other) and other.user == target.user:
                raise OutOfBounds(field_name, OTHER_DEALER, "another dealer's connector reads this database "
                                  "with this user")
        return parsed

    def _target(self, url) -> DatabaseTarget | None:
        from sqlalchemy.engine import make_url

        if not url:
            return None
        try:
            parsed = make_url(url) if isinstance(url, str) else url
        except Exception:
            return None
        family = FAMILIES.get(parsed.get_backend_name())
        if family is None:
            return None
        if family == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                return None
            path = Path(parsed.database)
            if not path.is_absolute():
                try:
                    path = self.folder / path
                except OutOfBounds:
                    return None
            return DatabaseTarget("sqlite", str(path.resolve()))
        port = parsed.port or DEFAULT_PORTS[family]
        return DatabaseTarget(family, parsed.database or "", port, self._places(parsed.host or "localhost"),
                              parsed.username)

    def _places(self, host: str) -> frozenset:
        try:
            addresses = resolve(host, 0)
        except OSError:
            return frozenset({_norm_host(host)})
        local = self._local_addresses()
        return frozenset("local" if (a in local or _ip(a).is_loopback) else str(_ip(a)) for a in addresses)

    def _local_addresses(self) -> frozenset:
        """This machine's own addresses: a database "on another host" that is this machine is
        the same server as one on localhost."""
        if self._local is None:
            found = set()
            for name in {socket.gethostname(), socket.getfqdn()}:
                try:
                    found |= set(resolve(name, 0))
                except OSError:
                    continue
            self._local = frozenset(found)
        return self._local


def _feed_key(base_url: str) -> tuple:
    try:
        parts = urlsplit(base_url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return (base_url,)
    scheme = parts.scheme.lower()
    path = posixpath.normpath(parts.path or "/").rstrip("/")
    return scheme, (parts.hostname or "").rstrip("."), port, path, parts.query
