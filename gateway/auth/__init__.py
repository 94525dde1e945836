"""Signing in to the servers the gateway talks to: OAuth2 tokens for IMAP, SMTP and APIs."""
