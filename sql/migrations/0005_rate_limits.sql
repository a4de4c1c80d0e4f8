-- Token buckets for rate limits that hold across server processes (webchat_server/domain/limits.py).
-- A bucket is taken from in the same transaction as the write it limits, so a refused or failed
-- write gives its tokens back by rolling back. UNLOGGED: buckets are cheap to lose (a crash only
-- refills them) and skip the WAL, which is most of the cost of a row update.
CREATE UNLOGGED TABLE webchat.rate_limits (
    -- '<limit>:<a|ip>:<account id or address>', e.g. 'sends:ip:203.0.113.7'
    key        text PRIMARY KEY,
    tokens     double precision NOT NULL,
    -- the bucket's settings when last taken from, so a full bucket can be recognised and pruned
    rate       double precision NOT NULL,
    burst      double precision NOT NULL,
    updated_at timestamptz NOT NULL
) WITH (fillfactor = 50);  -- room for HOT updates: every take rewrites the row
