-- A unit's engagements today, with the people's names and the job titles' titles.
-- $1: the unit's uuid.
SELECT e.uuid AS engagement, p.given_name, p.surname, e.job_title, e.job_title_title,
       e.is_primary
FROM orghub_cache.engagements e
JOIN orghub_cache.persons p ON p.uuid = e.person
WHERE e.unit = $1
ORDER BY p.surname, p.given_name, e.uuid
