"""Dealers: the companies that order from a site's mall."""
