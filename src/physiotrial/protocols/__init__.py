"""Built-in protocol files; ``popliteus-dn-koa.toml`` is the reference trial."""
