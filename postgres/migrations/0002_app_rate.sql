-- Each app's rate state (bulkid.ReserveRows): its theoretical arrival time.
ALTER TABLE apps ADD COLUMN throttle_tat timestamptz;
