"""A local, deterministic and deliberately unkind simulator of the Customer.io App API.

    from sandbox import SandboxServer, SandboxSettings
    with SandboxServer(SandboxSettings(rate_limit=0)) as server:
        server.url, server.workspace, server.request_log, server.set_faults({...}), server.append("messages", 10)

Run standalone with ``python -m sandbox --port 8080``. See sandbox/README.md.
"""

from .server import RateLimiter, SandboxServer
from .settings import SCENARIOS, SandboxSettings
from .workspace import Workspace

__all__ = ["SCENARIOS", "RateLimiter", "SandboxServer", "SandboxSettings", "Workspace"]
