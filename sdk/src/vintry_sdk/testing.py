"""The pytest harness for Vintry and its plugins (registered through ``pytest11``)."""
