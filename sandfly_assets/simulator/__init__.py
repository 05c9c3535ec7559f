"""A faithful local simulator of the Sandfly Security server REST API v4.

It serves deterministic hosts, SSH keys and results (compact enough for a million
results), honours both filter dialects of `POST /results`, issues expiring bearer
tokens, and injects faults on demand. It shares no code with the client on
purpose: a misreading of the API must not hide in both.

    from sandfly_assets.simulator import SandflySimulator, SimulatorConfig

    with SandflySimulator(SimulatorConfig(username="admin", password="secret", seed=7)) as sim:
        sim.url  # http://127.0.0.1:PORT/v4

Run `python -m sandfly_assets.simulator --help` for the command line.
"""

from .config import FaultSettings, SimulatorConfig
from .server import SandflySimulator

__all__ = ["FaultSettings", "SandflySimulator", "SimulatorConfig"]
