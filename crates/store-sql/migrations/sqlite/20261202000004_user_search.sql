-- Searching users is by prefix of the address, the last name or "first last",
-- within one organisation: each is a range on one of these indexes (the last
-- name's is users_by_organisation_and_name), so a search over a provider reads
-- its matches, not all its users.
CREATE INDEX users_by_organisation_and_email ON users (organisation_id, email_norm);
CREATE INDEX users_by_organisation_and_full_name ON users (organisation_id, lower(first_name || ' ' || last_name));
