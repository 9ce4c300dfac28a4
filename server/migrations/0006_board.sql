-- depends: 0005_integrations
-- 0006: the waiting-room board (issue 14): the languages its labels and announcements use, in
-- order ('{}': the department's language, then English), and whether it shows masked names.

ALTER TABLE departments ADD COLUMN board_languages text[] NOT NULL DEFAULT '{}' CHECK (
    cardinality(board_languages) <= 3
    AND array_to_string(board_languages, ',') ~ '^([a-z]{2}(,[a-z]{2})*)?$');
ALTER TABLE departments ADD COLUMN board_names text NOT NULL DEFAULT 'masked'
    CHECK (board_names IN ('masked', 'hidden'));
