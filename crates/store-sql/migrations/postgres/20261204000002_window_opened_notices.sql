-- A collection window's contributors are told once when it opens (issue 15,
-- item 9). The background job claims a window whose opening time has come by
-- setting this column in the transaction that queues the emails, with an
-- UPDATE that matches only while it is still empty: however many processes
-- run the job, one of them sends. Keep in step with the other migrations folder.
ALTER TABLE collection_windows ADD COLUMN opened_notice_sent_at TIMESTAMPTZ;

-- Windows that opened before this change were announced as they always were:
-- nobody is told about them now.
UPDATE collection_windows
   SET opened_notice_sent_at = opens_at
 WHERE opens_at <= now();

CREATE INDEX collection_windows_awaiting_notice
    ON collection_windows (opens_at) WHERE opened_notice_sent_at IS NULL;
