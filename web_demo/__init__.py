"""The detector in a web page (web_demo/index.html): `python -m web_demo` serves it."""
