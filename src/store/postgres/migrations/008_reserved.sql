-- A placeholder: number 008 is another branch's migration. Delete this file when that one is merged (the
-- loader needs the numbers without gaps).
SELECT 1;
