from tests.gateway.conftest import Served, eventually, serve, served

__all__ = ["Served", "eventually", "serve", "served"]
