-- The demo's HR table. hr.sqlite is built from this file:
--   rm -f hr.sqlite && sqlite3 hr.sqlite < hr.sql   (or python3 -c "import sqlite3;sqlite3.connect('hr.sqlite').executescript(open('hr.sql').read())")
-- employee_id is the stable HR key: Peggy's address changed (polsen@ in the tenant),
-- Carol's family name was fixed (Dias in the tenant), Bob has no key in the tenant yet.
CREATE TABLE employees (
    id          INTEGER PRIMARY KEY,
    employee_id TEXT,
    email       TEXT,
    role        TEXT,
    name        TEXT,
    given_name  TEXT,
    family_name TEXT,
    department  TEXT,
    active      INTEGER NOT NULL DEFAULT 1
);
INSERT INTO employees (employee_id, email, role, name, given_name, family_name, department, active) VALUES
  ('E001', 'alice@acme.example',       'admin',   'Alice Martin',   'Alice', 'Martin',   'IT',        1),
  ('E002', ' Bob@ACME.example ',       'editor',  'Bob Chen',       'Bob',   'Chen',     'Content',   1),
  ('E002', 'bob@acme.example',         'viewer',  'Bob Chen',       'Bob',   'Chen',     'Content',   1),
  ('E003', 'carol@acme.example',       'billing', 'Carol Diaz',     'Carol', 'Diaz',     'Finance',   1),
  ('E004', 'dave@acme.example',        'viewer',  'Dave Okafor',    'Dave',  'Okafor',   'Sales',     0),
  ('E006', 'grace@acme.example',       'editor',  'Grace Hopper',   'Grace', 'Hopper',   'R&D',       1),
  ('E006', 'grace@acme.example',       'viewer',  'Grace B. Hopper','Grace', 'Hopper',   'R&D',       1),
  ('E007', 'heidi@acme.example',       NULL,      'Heidi Schulz',   'Heidi', 'Schulz',   'Legal',     1),
  ('E008', 'ivan@acme.example',        'billing', 'Ivan Petrov',    'Ivan',  'Petrov',   'Finance',   1),
  ('E009', 'judy.acme.example',        'viewer',  'Judy Typo',      'Judy',  'Typo',     'Sales',     1),
  ('E010', 'zoe@acme.example',         'viewer',  'Zoë Ångström',   'Zoë',   'Ångström', 'Design',    1),
  ('E011', 'peggy.olsen@acme.example', 'viewer',  'Peggy Olsen',    'Peggy', 'Olsen',    'Marketing', 1);
