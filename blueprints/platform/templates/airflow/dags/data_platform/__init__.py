"""Shared code of the platform DAGs: deployment contract, clients and task builders."""
