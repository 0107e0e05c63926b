"""Inventory: warehouses, stock, reservations and the movement ledger."""
