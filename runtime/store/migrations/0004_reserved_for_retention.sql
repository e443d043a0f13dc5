-- 0004 is the retention branch's migration (usage and retention). This placeholder keeps the
-- numbers 1..n without gaps on the `live` branch, whose migration is 0005, until that lands:
-- DELETE THIS FILE when merging with the retention branch (it changes nothing).
SELECT 1;
