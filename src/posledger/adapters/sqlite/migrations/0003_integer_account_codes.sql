-- Migration 0003 (SQLite only): journal lines keep their account code as an INTEGER.
-- The chart's codes are numbers ("4000"); the journal_lines (account, entry_id) index takes
-- an integer key in about two thirds of the time a text key costs, and a sale writes seven
-- lines (issue 7; docs/decisions/0003-posting-throughput.md). INTEGER affinity turns a code
-- written as "4000" into 4000 and leaves any code that is not a number as text; readers turn
-- the value back into text. Bound parameters compared with the column get the same affinity,
-- so `account = '4000'` still ranges on the index. PostgreSQL keeps text (its 0002 schema).
CREATE TABLE journal_lines_v3 (
    entry_id INTEGER NOT NULL,
    line_no  INTEGER NOT NULL,
    account  INTEGER NOT NULL,
    debit    INTEGER NOT NULL,
    credit   INTEGER NOT NULL,
    PRIMARY KEY (entry_id, line_no)
) WITHOUT ROWID;
INSERT INTO journal_lines_v3 (entry_id, line_no, account, debit, credit)
    SELECT entry_id, line_no, account, debit, credit FROM journal_lines ORDER BY entry_id, line_no;
DROP TABLE journal_lines;
ALTER TABLE journal_lines_v3 RENAME TO journal_lines;
CREATE INDEX journal_lines_account ON journal_lines (account, entry_id);
