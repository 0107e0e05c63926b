"""Built-in plugins: kernel behaviour registered exactly like third-party plugins."""
