"""Decision engines: pure functions from a Snapshot and a price book to priced recommendations.

Nothing in this package may import `app`, `executor`, `background`, streamlit, boto3 or kubernetes
(enforced by import-linter); collectors in `app` build the Snapshot and call the engines.
"""
