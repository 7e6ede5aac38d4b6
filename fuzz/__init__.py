"""atheris harnesses for the policy loader, the header/proxy parser and the IP normaliser."""
