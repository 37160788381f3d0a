"""Per-part tests of the compiled converter: ``cloudz/convert/fastmrt/<part>.c`` is tested by
``test_<part>.py`` here."""
