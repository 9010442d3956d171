"""The Lambda-shaped run: what `sam build` built, run the way Lambda runs it (PRODUCT.md, "Deployed for real")."""
