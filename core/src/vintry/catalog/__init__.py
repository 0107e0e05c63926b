"""The catalog: HQ's standard product library, and each site's prices and assortment."""
