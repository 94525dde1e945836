"""Microsoft's APIs as the gateway uses them: Partner Center (service requests, customers) and
Microsoft Graph (service health). Each request and response shape cites its Microsoft Learn page."""
