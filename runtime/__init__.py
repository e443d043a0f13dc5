"""The service around the sandbox: tenants, modules, webhook intake, acting on results."""
