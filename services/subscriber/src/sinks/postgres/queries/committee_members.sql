-- The members of a committee today: a MED committee (a unit of the MED organisation, or a group),
-- a project group, a network. Who, and in which role. $1: the unit's or the group's uuid.
SELECT coalesce(u.name, g.name) AS committee, p.uuid AS person, p.given_name, p.surname,
       a.association_type_title AS role
FROM orghub_cache.associations a
JOIN orghub_cache.persons p ON p.uuid = a.person
LEFT JOIN orghub_cache.units u ON u.uuid = a.unit
LEFT JOIN orghub_cache.groups g ON g.uuid = a.group_uuid
WHERE $1 IN (a.unit, a.group_uuid)
ORDER BY p.surname, p.given_name, p.uuid
