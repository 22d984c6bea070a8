-- The User management page lists an organisation's users by last name, then
-- first name (ignoring case), a page at a time. Walking this index in that
-- order stops after one page instead of sorting every user of the provider;
-- it also serves every look-up by organisation alone, so it replaces
-- users_by_organisation.
CREATE INDEX users_by_organisation_and_name ON users (organisation_id, lower(last_name), lower(first_name), id);
DROP INDEX users_by_organisation;
