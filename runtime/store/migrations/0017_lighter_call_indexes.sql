-- 0017: nothing to do on SQLite; the number keeps both backends' migrations in step.
--
-- PostgreSQL's 0017 gives its call indexes what SQLite's 0008 (the lookups' order in the
-- index) and 0009 (the user indexes partial) gave SQLite's, and holds only ended calls in
-- calls_numbers.
SELECT 1;
