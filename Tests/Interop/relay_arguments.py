"""The command line the relay interop clients share: RELAY_URL TOKEN PREFIX COUNT."""
import sys


def relay_arguments(usage: str) -> tuple[str, str, str, int]:
    """(origin, token, prefix, count) from sys.argv; prints `usage` and exits 64 when they are not four.

    RELAY_URL may be the relay's API root (http://127.0.0.1:8787/api/v1) or its origin: the origin comes back.
    """
    if len(sys.argv) != 5:
        print(usage)
        sys.exit(64)
    base_url, token, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    origin = base_url.rstrip("/")
    if origin.endswith("/api/v1"):
        origin = origin[: -len("/api/v1")]
    return origin, token, prefix, count
