"""Storage adapters behind the ports in ``posledger.app.ports``."""
