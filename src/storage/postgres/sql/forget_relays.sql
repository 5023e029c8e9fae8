-- same as sqlite/sql/forget_relays.sql, placeholders aside. Rows of relays nobody needs to see any more: $1 keeps its own; $2: rows whose last heartbeat is older than this (relays that died without stopping); $3: also every other stopped row (a relay that stops is the newest word on when a relay last ran).
DELETE FROM digis_relay
WHERE relay_id <> $1
  AND (heartbeat_at < $2 OR ($3 AND state = 'stopped'))
