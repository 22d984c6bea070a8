-- Searching users is by prefix of the address, the last name or "first last",
-- within one organisation: each is a range on one of these indexes, so a search
-- over a provider reads its matches, not all its users. Ranges are compared in
-- the "C" collation, where a range is exactly a prefix whatever the database's.
CREATE INDEX users_by_organisation_and_email ON users (organisation_id, (email_norm COLLATE "C"));
CREATE INDEX users_by_organisation_and_last_name ON users (organisation_id, (lower(last_name) COLLATE "C"));
CREATE INDEX users_by_organisation_and_full_name ON users (organisation_id, (lower(first_name || ' ' || last_name) COLLATE "C"));
