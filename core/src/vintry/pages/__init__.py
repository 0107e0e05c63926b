"""Page decoration: each site designs its own home page from typed blocks."""
