-- The members of a committee (a group, e.g. a MED committee) today: who, and in which role.
-- $1: the group's uuid.
SELECT g.name AS committee, p.uuid AS person, p.given_name, p.surname,
       a.association_type_title AS role
FROM orghub_cache.associations a
JOIN orghub_cache.groups g ON g.uuid = a.group_uuid
JOIN orghub_cache.persons p ON p.uuid = a.person
WHERE a.group_uuid = $1
ORDER BY p.surname, p.given_name, p.uuid
