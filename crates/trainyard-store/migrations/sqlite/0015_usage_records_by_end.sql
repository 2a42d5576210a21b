-- Fair share reads back the usage of recent attempts at start (`Store::usage_spans`): by
-- their end, across projects.
CREATE INDEX usage_records_end ON usage_records (ended_at);
