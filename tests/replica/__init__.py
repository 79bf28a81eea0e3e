"""A local replica of the three IOM sites, served over HTTP on 127.0.0.1 for tests and demos.

`with Replica(page_size=10, faults=[Fault.server_error("/en/resources/manual")]) as rep:` starts
the three sites; see README.md for the dataset schema, the pages, the faults and the API.
"""

from tests.replica.faults import Fault
from tests.replica.server import LoggedRequest, Replica

__all__ = ["Fault", "LoggedRequest", "Replica"]
