"""Operations: what the JSON API and the console both do, done once.

Each module holds plain async functions over the app's services (`Services`) with typed inputs
that return typed results or raise the project's domain errors (`ApiError` and the store's,
`Refused`, `PoolClosed`; runtime/errors.py says what each answers). The API's handlers and the
console's views are adapters around them: read the input, call the operation, render JSON or a
page. So the two cannot drift apart: the same dry run fails the same way in both.
"""
